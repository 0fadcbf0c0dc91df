#include "archive/pax_fix.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace ctdump::archive {
namespace {

constexpr size_t kModeOffset = 100;
constexpr size_t kSizeOffset = 124;
constexpr size_t kChecksumOffset = 148;
constexpr size_t kTypeOffset = 156;

constexpr std::string_view kXattrPrefix = "SCHILY.xattr.";

bool IsTimeKey(std::string_view key) {
  return key == "mtime" || key == "atime" || key == "ctime" || key == "LIBARCHIVE.creationtime";
}

size_t Digits(size_t n) {
  size_t d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Digits only, at most `max` of them; nullopt otherwise.
std::optional<uint64_t> ParseDigits(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

void WriteOctal(char* field, size_t digits, uint64_t v) {
  for (size_t i = digits; i-- > 0;) {
    field[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
}

// Rules 1 and 2 on one extended header's records.
void FixWrittenRecords(std::vector<PaxRecord>& records) {
  for (auto& r : records) {
    if (IsTimeKey(r.key)) {
      r.value = PaxTimeFromLibarchive(r.value);
    } else if (r.key.starts_with(kXattrPrefix)) {
      std::string name = UrlDecode(std::string_view(r.key).substr(kXattrPrefix.size()));
      r.key = std::string(kXattrPrefix) + EncodeXattrKeyword(name);
    }
  }
}

}  // namespace

std::optional<std::vector<PaxRecord>> ParsePaxRecords(std::string_view body) {
  std::vector<PaxRecord> out;
  while (!body.empty()) {
    size_t space = body.find(' ');
    if (space == std::string_view::npos || space == 0 || space > 7) return std::nullopt;
    auto length = ParseDigits(body.substr(0, space), 7);
    if (!length || *length <= space + 1 || *length > body.size() || body[*length - 1] != '\n')
      return std::nullopt;
    std::string_view line = body.substr(space + 1, *length - space - 2);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    out.push_back({std::string(line.substr(0, eq)), std::string(line.substr(eq + 1))});
    body.remove_prefix(*length);
  }
  return out;
}

std::string FormatPaxRecords(const std::vector<PaxRecord>& records) {
  std::string out;
  for (const auto& r : records) {
    size_t payload = 1 + r.key.size() + 1 + r.value.size() + 1;  // ' ' key '=' value '\n'
    size_t length = payload + Digits(payload);
    if (Digits(length) != Digits(payload)) length = payload + Digits(length);
    out += fmt::format("{} {}={}\n", length, r.key, r.value);
  }
  return out;
}

std::optional<PaxTime> ParsePaxTime(std::string_view value) {
  bool negative = !value.empty() && value[0] == '-';
  if (negative) value.remove_prefix(1);
  size_t dot = value.find('.');
  auto whole = ParseDigits(value.substr(0, dot), 18);
  if (!whole) return std::nullopt;
  long frac = 0;
  if (dot != std::string_view::npos) {
    std::string_view f = value.substr(dot + 1);
    if (f.empty()) return std::nullopt;
    long scale = 100000000;
    for (char c : f) {
      if (c < '0' || c > '9') return std::nullopt;
      frac += (c - '0') * scale;
      scale /= 10;
    }
  }
  PaxTime t;
  t.sec = static_cast<int64_t>(*whole);
  t.nsec = frac;
  if (negative) {
    t.sec = -t.sec;
    if (frac > 0) {
      t.sec -= 1;
      t.nsec = 1000000000L - frac;
    }
  }
  return t;
}

std::string PaxTimeFromLibarchive(std::string_view value) {
  // libarchive: "-<s>.<f>" is -s + 0.f, s >= 1 (it writes the seconds
  // rounded down and the nanoseconds after them).
  if (value.size() < 4 || value[0] != '-') return std::string(value);
  size_t dot = value.find('.');
  if (dot == std::string_view::npos) return std::string(value);
  auto whole = ParseDigits(value.substr(1, dot - 1), 18);
  std::string_view f = value.substr(dot + 1);
  auto frac = ParseDigits(f, 18);
  if (!whole || !frac || *whole == 0 || *frac == 0) return std::string(value);
  uint64_t unit = 1;
  for (size_t i = 0; i < f.size(); ++i) unit *= 10;
  // -s + f/unit = -((s - 1) + (unit - f)/unit)
  return fmt::format("-{}.{:0{}}", *whole - 1, unit - *frac, f.size());
}

std::string EncodeXattrKeyword(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '%')
      out += "%25";
    else if (c == '=')
      out += "%3D";
    else
      out += c;
  }
  return out;
}

std::string DecodeXattrKeyword(std::string_view keyword) {
  std::string out;
  for (size_t i = 0; i < keyword.size(); ++i) {
    std::string_view rest = keyword.substr(i);
    if (rest.starts_with("%25")) {
      out += '%';
      i += 2;
    } else if (rest.starts_with("%3D")) {
      out += '=';
      i += 2;
    } else {
      out += keyword[i];
    }
  }
  return out;
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

mode_t HeaderPerm(archive_entry* e) {
  mode_t perm = archive_entry_perm(e);
  if (archive_entry_acl_reset(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS) <= 0) return perm;
  int type, permset, tag, qual;
  const char* name;
  while (archive_entry_acl_next(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, &type, &permset, &tag, &qual,
                                &name) == ARCHIVE_OK) {
    if (tag == ARCHIVE_ENTRY_ACL_MASK)
      perm = static_cast<mode_t>((perm & ~070u) | ((static_cast<unsigned>(permset) & 7u) << 3));
  }
  return perm;
}

bool TarChecksumOk(std::string_view block) {
  if (block.size() != kTarBlock) return false;
  uint64_t sum = 0;
  for (size_t i = 0; i < kTarBlock; ++i)
    sum += (i >= kChecksumOffset && i < kChecksumOffset + 8) ? ' '
                                                             : static_cast<unsigned char>(block[i]);
  uint64_t stored = 0;
  bool any = false;
  for (size_t i = kChecksumOffset; i < kChecksumOffset + 8; ++i) {
    char c = block[i];
    if (c == ' ' || c == '\0') {
      if (any) break;
      continue;
    }
    if (c < '0' || c > '7') return false;
    stored = stored * 8 + static_cast<uint64_t>(c - '0');
    any = true;
  }
  return any && stored == sum;
}

void SetTarChecksum(char* block) {
  std::memset(block + kChecksumOffset, ' ', 8);
  uint64_t sum = 0;
  for (size_t i = 0; i < kTarBlock; ++i) sum += static_cast<unsigned char>(block[i]);
  WriteOctal(block + kChecksumOffset, 6, sum);
  block[kChecksumOffset + 6] = '\0';  // "%06o\0 ", as libarchive and GNU tar
}

std::optional<uint64_t> TarHeaderSize(std::string_view block) {
  if (block.size() != kTarBlock) return std::nullopt;
  std::string_view f = block.substr(kSizeOffset, 12);
  uint64_t v = 0;
  if (static_cast<unsigned char>(f[0]) & 0x80) {
    if (static_cast<unsigned char>(f[0]) != 0x80) return std::nullopt;  // negative or huge
    for (size_t i = 1; i < f.size(); ++i) {
      if (v >> 56) return std::nullopt;
      v = (v << 8) | static_cast<unsigned char>(f[i]);
    }
    return v;
  }
  size_t i = 0;
  while (i < f.size() && f[i] == ' ') ++i;
  bool any = false;
  for (; i < f.size() && f[i] >= '0' && f[i] <= '7'; ++i) {
    v = v * 8 + static_cast<uint64_t>(f[i] - '0');
    any = true;
  }
  if (!any) return std::nullopt;
  return v;
}

void PaxWriterFixer::BeginHeader(std::optional<mode_t> perm) {
  in_header_ = true;
  perm_ = perm;
  header_.clear();
}

Status PaxWriterFixer::EndHeader() {
  in_header_ = false;
  RETURN_IF_ERROR(FixHeaders(header_));
  Status s = Emit(header_.data(), header_.size());
  header_.clear();
  return s;
}

Status PaxWriterFixer::Write(const char* data, size_t size) {
  offset_ += size;
  if (in_header_) {
    header_.append(data, size);
    return Status::OK();
  }
  return Emit(data, size);
}

Status PaxWriterFixer::Emit(const char* data, size_t size) {
  if (pending_.size() + size < kCoalesce) {
    pending_.append(data, size);
    return Status::OK();
  }
  RETURN_IF_ERROR(Flush());
  if (size >= kCoalesce) {
    bytes_out_ += size;
    return out_(data, size);
  }
  pending_.append(data, size);
  return Status::OK();
}

Status PaxWriterFixer::Flush() {
  if (pending_.empty()) return Status::OK();
  bytes_out_ += pending_.size();
  Status s = out_(pending_.data(), pending_.size());
  pending_.clear();
  return s;
}

Status PaxWriterFixer::FixHeaders(std::string& window) const {
  // The window may open with the previous entry's padding.
  const uint64_t start = offset_ - window.size();
  size_t pos = static_cast<size_t>((kTarBlock - start % kTarBlock) % kTarBlock);
  while (pos + kTarBlock <= window.size()) {
    std::string_view block(window.data() + pos, kTarBlock);
    if (!TarChecksumOk(block))
      return InternalError("pax writer: a header block expected where there was none");
    if (block[kTypeOffset] != 'x') {
      if (perm_) {
        char mode[8];
        std::snprintf(mode, sizeof(mode), "%06o", static_cast<unsigned>(*perm_ & 07777));
        std::memcpy(window.data() + pos + kModeOffset, mode, 6);
        SetTarChecksum(window.data() + pos);
      }
      return Status::OK();
    }
    auto size = TarHeaderSize(block);
    if (!size || pos + kTarBlock + *size > window.size())
      return InternalError("pax writer: an extended header larger than what was written");
    auto records = ParsePaxRecords(std::string_view(window).substr(pos + kTarBlock, *size));
    if (!records) return InternalError("pax writer: malformed extended header");
    FixWrittenRecords(*records);
    std::string body = FormatPaxRecords(*records);
    std::string header(block);
    WriteOctal(header.data() + kSizeOffset, 11, body.size());
    SetTarChecksum(header.data());
    const size_t old_len = kTarBlock + (*size + kTarBlock - 1) / kTarBlock * kTarBlock;
    body.resize((body.size() + kTarBlock - 1) / kTarBlock * kTarBlock, '\0');
    window.replace(pos, old_len, header + body);
    pos += kTarBlock + body.size();
  }
  return Status::OK();
}

}  // namespace ctdump::archive
