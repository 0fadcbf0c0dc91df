#include "access/audit_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "sys/file.h"

namespace ctdump::access {
namespace {

// The length of the UTF-8 sequence at `s[i]` (2-4) if it is a valid one
// outside the C1 controls, else 0.
size_t Utf8Sequence(std::string_view s, size_t i) {
  auto byte = [&s](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (n == 0 || c > 0xf4 || i + n > s.size()) return 0;
  uint32_t cp = c & (0xff >> (n + 1));
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (byte(i + k) & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f) return 0;
  return n;
}

std::string Escape(std::string_view v, bool quoted) {
  std::string out;
  for (size_t i = 0; i < v.size();) {
    auto c = static_cast<unsigned char>(v[i]);
    if (c >= 0x80) {
      size_t n = Utf8Sequence(v, i);
      if (n > 0) {
        out.append(v.substr(i, n));
        i += n;
        continue;
      }
      out += fmt::format("\\x{:02x}", c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (quoted && (c == '"' || c == '\\')) {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  return out;
}

std::string UtcTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace

std::string AuditValue(std::string_view value) {
  bool quote = value.empty();
  for (char c : value)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || c == '\t' || c == '\n' || c == '\r')
      quote = true;
  if (!quote) return Escape(value, false);
  return "\"" + Escape(value, true) + "\"";
}

std::string FormatAuditLine(int64_t time, std::string_view event, const AuditFields& fields) {
  std::string line = UtcTime(time) + " " + Escape(event, false);
  for (const auto& [key, value] : fields)
    line += " " + Escape(key, false) + "=" + AuditValue(value);
  return line;
}

Result<AuditLog> AuditLog::Open(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0)
    RETURN_IF_ERROR(sys::MakeDirs(path.substr(0, slash), 0700));
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  return AuditLog(path, sys::UniqueFd(fd));
}

Status AuditLog::Write(int64_t time, std::string_view event, const AuditFields& fields) const {
  std::string line = FormatAuditLine(time, event, fields) + "\n";
  ssize_t n;
  do {
    n = ::write(fd_.get(), line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoError(errno, fmt::format("Failed to write to \"{}\"", path_));
  if (static_cast<size_t>(n) != line.size())
    return IOError(fmt::format("Failed to write to \"{}\": short write", path_));
  return Status::OK();
}

}  // namespace ctdump::access
