// The audit log (docs/design/api-server.md §2.5): one line per
// authentication event, write request and refusal,
//
//   2026-12-05T10:00:03Z login-fail client=203.0.113.5 user=alice@pam reason="pam: authentication
//   failure"
//
// "<UTC time> <event> <key>=<value> ...". A value is quoted ("...") when it is
// empty or holds a space, '"', '=' or '\'; inside quotes '"' and '\' get a
// backslash. Control characters (C0, DEL, C1) and bytes that are not UTF-8
// are escaped anywhere (\n, \r, \t, \xHH), so a line never breaks and a
// value never forges a field. Callers never pass passwords, tickets or
// token secrets (writes list their parameter names, not values).
//
// Events: login-ok, login-renew, login-fail, login-limited, auth-fail,
// csrf-fail, denied, write.
#ifndef CTDUMP_ACCESS_AUDIT_LOG_H_
#define CTDUMP_ACCESS_AUDIT_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctdump/status.h"
#include "sys/unique_fd.h"

namespace ctdump::access {

using AuditFields = std::vector<std::pair<std::string, std::string>>;

// One value as it appears after "key=".
std::string AuditValue(std::string_view value);
// The line without its newline; `event` and keys are ctdump's own words.
std::string FormatAuditLine(int64_t time, std::string_view event, const AuditFields& fields);

class AuditLog {
 public:
  // Opens (creates 0600, and its directory 0700) `path` for appending.
  static Result<AuditLog> Open(const std::string& path);

  // Appends one line with a single write(2) on the O_APPEND descriptor:
  // lines of concurrent writers (threads, processes) do not interleave.
  // Thread-safe.
  Status Write(int64_t time, std::string_view event, const AuditFields& fields) const;

  const std::string& path() const { return path_; }

 private:
  AuditLog(std::string path, sys::UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  sys::UniqueFd fd_;
};

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_AUDIT_LOG_H_
