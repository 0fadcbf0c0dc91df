#include "extract/entry_check.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <vector>

namespace ctdump::extract {
namespace {

enum class PathError { kNone, kEmpty, kAbsolute, kDotDot };

// Splits on '/', drops "" and "." components; reports absolute names and "..".
PathError Normalize(std::string_view name, std::string* out) {
  if (name.empty()) return PathError::kEmpty;
  if (name.front() == '/') return PathError::kAbsolute;
  std::string result = ".";
  while (!name.empty()) {
    size_t slash = name.find('/');
    std::string_view part = name.substr(0, slash);
    name.remove_prefix(slash == std::string_view::npos ? name.size() : slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") return PathError::kDotDot;
    result += '/';
    result += part;
  }
  *out = std::move(result);
  return PathError::kNone;
}

// POSIX ACL xattr layout (include/uapi/linux/posix_acl_xattr.h).
constexpr uint32_t kAclXattrVersion = 2;
constexpr uint16_t kAclUser = 0x02;
constexpr uint16_t kAclGroup = 0x08;
constexpr size_t kAclHeaderSize = 4;
constexpr size_t kAclEntrySize = 8;

uint32_t LoadLe(const char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void StoreLe(std::string* out, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

Result<std::string> NormalizeEntryName(std::string_view name) {
  std::string out;
  switch (Normalize(name, &out)) {
    case PathError::kNone:
      return out;
    case PathError::kEmpty:
      return InvalidArgumentError("empty name");
    case PathError::kAbsolute:
      return InvalidArgumentError("absolute path");
    case PathError::kDotDot:
      return InvalidArgumentError("path contains '..'");
  }
  return InternalError("unreachable");
}

Result<std::string> NormalizeHardlinkTarget(std::string_view target) {
  std::string out;
  switch (Normalize(target, &out)) {
    case PathError::kNone:
      return out;
    case PathError::kEmpty:
      return InvalidArgumentError("empty hardlink target");
    case PathError::kAbsolute:
      return InvalidArgumentError(fmt::format("hardlink target '{}' is absolute", target));
    case PathError::kDotDot:
      return InvalidArgumentError(fmt::format("hardlink target '{}' contains '..'", target));
  }
  return InternalError("unreachable");
}

std::string RefusalMessage(std::string_view name, std::string_view archive, std::string_view why) {
  return fmt::format("refusing entry '{}' in '{}': {}", name, archive, why);
}

bool IsBelowDev(std::string_view normalized) {
  return normalized.size() > 6 && normalized.starts_with("./dev/");
}

bool UidRepresentable(const IdMap& map, int64_t uid) {
  if (uid < 0 || uid >= std::numeric_limits<uint32_t>::max()) return false;
  return map.HostUid(static_cast<uint32_t>(uid)).has_value();
}

bool GidRepresentable(const IdMap& map, int64_t gid) {
  if (gid < 0 || gid >= std::numeric_limits<uint32_t>::max()) return false;
  return map.HostGid(static_cast<uint32_t>(gid)).has_value();
}

std::optional<std::string> FilterPosixAclXattr(std::string_view value, const IdMap& map,
                                               uint32_t fallback_uid, uint32_t fallback_gid,
                                               int* fallen_back) {
  if (value.size() < kAclHeaderSize || (value.size() - kAclHeaderSize) % kAclEntrySize != 0)
    return std::nullopt;
  if (LoadLe(value.data(), 4) != kAclXattrVersion) return std::nullopt;
  struct Ace {
    uint16_t tag, perm;
    uint32_t id;
  };
  std::vector<Ace> aces;
  bool changed = false;
  for (size_t off = kAclHeaderSize; off < value.size(); off += kAclEntrySize) {
    const char* e = value.data() + off;
    Ace a{static_cast<uint16_t>(LoadLe(e, 2)), static_cast<uint16_t>(LoadLe(e + 2, 2)),
          LoadLe(e + 4, 4)};
    if ((a.tag == kAclUser && !UidRepresentable(map, a.id)) ||
        (a.tag == kAclGroup && !GidRepresentable(map, a.id))) {
      a.id = a.tag == kAclUser ? fallback_uid : fallback_gid;
      ++*fallen_back;
      changed = true;
    }
    aces.push_back(a);
  }
  if (!changed) return std::string(value);
  std::stable_sort(aces.begin(), aces.end(), [](const Ace& a, const Ace& b) {
    bool named = a.tag == kAclUser || a.tag == kAclGroup;
    return a.tag != b.tag ? a.tag < b.tag : named && a.id < b.id;
  });
  std::string out(value.substr(0, kAclHeaderSize));
  for (size_t i = 0; i < aces.size(); ++i) {
    Ace a = aces[i];
    while (i + 1 < aces.size() && (a.tag == kAclUser || a.tag == kAclGroup) &&
           aces[i + 1].tag == a.tag && aces[i + 1].id == a.id)
      a.perm |= aces[++i].perm;
    StoreLe(&out, a.tag, 2);
    StoreLe(&out, a.perm, 2);
    StoreLe(&out, a.id, 4);
  }
  return out;
}

IdDatabase ParseIdDatabase(std::string_view text) {
  IdDatabase db;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    size_t c1 = line.find(':');
    if (c1 == 0 || c1 == std::string_view::npos) continue;
    size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    size_t c3 = line.find(':', c2 + 1);
    std::string_view id = line.substr(c2 + 1, c3 == std::string_view::npos ? c3 : c3 - c2 - 1);
    uint32_t value = 0;
    auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), value);
    if (ec != std::errc() || end != id.data() + id.size() || id.empty()) continue;
    db.emplace(std::string(line.substr(0, c1)), value);
  }
  return db;
}

std::optional<uint32_t> ResolveAclName(std::string_view name, const IdDatabase& db) {
  if (name.empty()) return std::nullopt;
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), value);
  if (ec == std::errc() && end == name.data() + name.size()) return value;
  auto it = db.find(name);
  if (it == db.end()) return std::nullopt;
  return it->second;
}

Status UntrustedArchiveCheck::Add(std::string_view name, mode_t filetype, bool hardlink) {
  ++members_;
  if (filetype == 0 && !hardlink)
    return InvalidArgumentError("found multi-volume member in archive");
  if (found_sbin_) return Status::OK();
  auto normalized = NormalizeEntryName(name);
  if (normalized.ok() && *normalized == "./sbin" &&
      (hardlink || filetype == S_IFDIR || filetype == S_IFLNK)) {
    found_sbin_ = true;
  }
  return Status::OK();
}

Status UntrustedArchiveCheck::Finish() const {
  if (!found_sbin_)
    return InvalidArgumentError(
        fmt::format("no 'sbin' directory (or link) found in archive '{}'", archive_));
  if (members_ < kMinUntrustedMembers)
    return InvalidArgumentError(fmt::format("less than 10 members in archive '{}'", archive_));
  return Status::OK();
}

}  // namespace ctdump::extract
