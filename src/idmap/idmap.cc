#include "ctdump/idmap.h"

#include <fmt/format.h>

#include <limits>
#include <string_view>

namespace ctdump {
namespace {

// The kernel rejects ID (uint32_t)-1 and ranges that wrap, so the last ID of a
// range must be <= 4294967294, i.e. start + count <= 4294967295.
constexpr uint64_t kIdSpaceEnd = std::numeric_limits<uint32_t>::max();

// Perl's \s on bytes: space, \t, \n, \v, \f, \r.
bool IsPerlSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A value split per the PVE regex. Numbers are kept as uint64 so that
// out-of-range values are a separate, clearer error than a syntax error.
struct RawEntry {
  char type;
  uint64_t ct_start, host_start, count;
};

// Consumes \s+ (at least one) at `pos`.
bool SkipSpaces(std::string_view s, size_t& pos, bool required) {
  size_t start = pos;
  while (pos < s.size() && IsPerlSpace(s[pos])) ++pos;
  return !required || pos > start;
}

// Consumes \d+ at `pos`; values above 2^32 saturate (they are errors anyway).
bool ReadNumber(std::string_view s, size_t& pos, uint64_t& out) {
  size_t start = pos;
  out = 0;
  while (pos < s.size() && IsDigit(s[pos])) {
    out = out * 10 + static_cast<uint64_t>(s[pos] - '0');
    if (out > kIdSpaceEnd + 1) out = kIdSpaceEnd + 1;
    ++pos;
  }
  return pos > start;
}

// ^([ug])\s+(\d+)\s+(\d+)\s+(\d+)\s*$
std::optional<RawEntry> MatchIdMapLine(std::string_view s) {
  if (s.empty() || (s[0] != 'u' && s[0] != 'g')) return std::nullopt;
  RawEntry e{s[0], 0, 0, 0};
  size_t pos = 1;
  for (uint64_t* field : {&e.ct_start, &e.host_start, &e.count}) {
    if (!SkipSpaces(s, pos, true) || !ReadNumber(s, pos, *field)) return std::nullopt;
  }
  SkipSpaces(s, pos, false);
  if (pos != s.size()) return std::nullopt;
  return e;
}

Result<IdMapEntry> ParseOne(const std::string& value) {
  std::optional<RawEntry> raw = MatchIdMapLine(value);
  if (!raw) return InvalidArgumentError(fmt::format("failed to parse idmap '{}'", value));
  for (uint64_t n : {raw->ct_start, raw->host_start, raw->count}) {
    if (n > kIdSpaceEnd) {
      return InvalidArgumentError(
          fmt::format("invalid idmap '{}': number out of the 32-bit id range", value));
    }
  }
  if (raw->count == 0) {
    return InvalidArgumentError(fmt::format("invalid idmap '{}': count must not be 0", value));
  }
  if (raw->ct_start + raw->count > kIdSpaceEnd || raw->host_start + raw->count > kIdSpaceEnd) {
    return InvalidArgumentError(fmt::format(
        "invalid idmap '{}': range extends beyond id 4294967294 (the kernel's limit)", value));
  }
  return IdMapEntry{raw->type, static_cast<uint32_t>(raw->ct_start),
                    static_cast<uint32_t>(raw->host_start), static_cast<uint32_t>(raw->count)};
}

bool Overlap(uint32_t a_start, uint32_t b_start, uint32_t a_count, uint32_t b_count) {
  uint64_t a_end = uint64_t{a_start} + a_count, b_end = uint64_t{b_start} + b_count;
  return a_start < b_end && b_start < a_end;
}

std::string_view TypeWord(char type) { return type == 'u' ? "uid" : "gid"; }

// Checks the per-type invariants of a non-empty map; `values[i]` is the text
// entries[i] came from, quoted in messages.
Status CheckType(char type, const std::vector<IdMapEntry>& entries,
                 const std::vector<std::string>& values) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].type == type) idx.push_back(i);
  }
  if (idx.size() > IdMap::kMaxEntriesPerType) {
    return InvalidArgumentError(
        fmt::format("invalid idmap: {} '{}' entries (first '{}'), the kernel allows at most {}",
                    idx.size(), type, values[idx[0]], IdMap::kMaxEntriesPerType));
  }
  bool has_root = false;
  for (size_t a = 0; a < idx.size(); ++a) {
    const IdMapEntry& x = entries[idx[a]];
    has_root = has_root || x.ct_start == 0;
    for (size_t b = a + 1; b < idx.size(); ++b) {
      const IdMapEntry& y = entries[idx[b]];
      const char* which = Overlap(x.ct_start, y.ct_start, x.count, y.count)       ? "container"
                          : Overlap(x.host_start, y.host_start, x.count, y.count) ? "host"
                                                                                  : nullptr;
      if (which != nullptr) {
        return InvalidArgumentError(fmt::format("invalid idmap: '{}' and '{}' overlap in {} {}s",
                                                values[idx[a]], values[idx[b]], which,
                                                TypeWord(type)));
      }
    }
  }
  if (!has_root) {
    std::string have;
    for (size_t i : idx) have += fmt::format("{}'{}'", have.empty() ? "" : ", ", values[i]);
    return InvalidArgumentError(
        fmt::format("invalid idmap: container {} 0 is not mapped, no '{} 0 ...' entry (have: {})",
                    TypeWord(type), type, have.empty() ? "none" : have));
  }
  return Status::OK();
}

}  // namespace

Result<IdMap> IdMap::Parse(const std::vector<std::string>& values, bool unprivileged) {
  if (values.empty()) {
    if (!unprivileged) return IdMap();
    return IdMap(
        {{'u', 0, kDefaultHostStart, kDefaultCount}, {'g', 0, kDefaultHostStart, kDefaultCount}});
  }
  std::vector<IdMapEntry> entries;
  entries.reserve(values.size());
  for (const std::string& value : values) {
    ASSIGN_OR_RETURN(IdMapEntry entry, ParseOne(value));
    entries.push_back(entry);
  }
  RETURN_IF_ERROR(CheckType('u', entries, values));
  RETURN_IF_ERROR(CheckType('g', entries, values));
  return IdMap(std::move(entries));
}

uint32_t IdMap::root_uid() const { return ToHost('u', 0).value_or(0); }
uint32_t IdMap::root_gid() const { return ToHost('g', 0).value_or(0); }

std::string IdMap::MapText(char type) const {
  std::string out;
  for (const IdMapEntry& e : entries_) {
    if (e.type == type) out += fmt::format("{} {} {}\n", e.ct_start, e.host_start, e.count);
  }
  return out;
}

std::string IdMap::UidMapText() const { return MapText('u'); }
std::string IdMap::GidMapText() const { return MapText('g'); }

std::vector<std::string> IdMap::UsernsexecSpecs() const {
  std::vector<std::string> out;
  for (const IdMapEntry& e : entries_) {
    out.push_back(fmt::format("{}:{}:{}:{}", e.type, e.ct_start, e.host_start, e.count));
  }
  return out;
}

std::optional<uint32_t> IdMap::ToHost(char type, uint32_t ct_id) const {
  if (empty()) return ct_id;
  for (const IdMapEntry& e : entries_) {
    if (e.type == type && ct_id >= e.ct_start && ct_id - e.ct_start < e.count) {
      return e.host_start + (ct_id - e.ct_start);
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> IdMap::ToCt(char type, uint32_t host_id) const {
  if (empty()) return host_id;
  for (const IdMapEntry& e : entries_) {
    if (e.type == type && host_id >= e.host_start && host_id - e.host_start < e.count) {
      return e.ct_start + (host_id - e.host_start);
    }
  }
  return std::nullopt;
}

std::optional<uint32_t> IdMap::HostUid(uint32_t ct_uid) const { return ToHost('u', ct_uid); }
std::optional<uint32_t> IdMap::HostGid(uint32_t ct_gid) const { return ToHost('g', ct_gid); }
std::optional<uint32_t> IdMap::CtUid(uint32_t host_uid) const { return ToCt('u', host_uid); }
std::optional<uint32_t> IdMap::CtGid(uint32_t host_gid) const { return ToCt('g', host_gid); }

std::string IdMap::ToString() const {
  if (empty()) return "(none)";
  std::string out;
  for (const IdMapEntry& e : entries_) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {} {} {}", e.type, e.ct_start, e.host_start, e.count);
  }
  return out;
}

}  // namespace ctdump
