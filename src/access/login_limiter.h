// Failed-login limits (docs/design/api-server.md §2.3): per client address
// (IPv6 by its /64) at most 10 failures, per user name at most 5 failures in
// a sliding window of 10 minutes. A login beyond either limit is refused
// without asking PAM until the window has room again. Success resets nothing
// (an attacker with one account could otherwise clear its address's count).
//
// The counters are in memory, bounded (kMaxKeys per kind: the oldest keys
// are dropped first when more would be kept). Time is passed in (Unix
// seconds) so tests need no clock. Thread-safe.
#ifndef CTDUMP_ACCESS_LOGIN_LIMITER_H_
#define CTDUMP_ACCESS_LOGIN_LIMITER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace ctdump::access {

struct LoginLimits {
  int per_address = 10;  // failures per client address (IPv6: per /64)
  int per_user = 5;      // failures per user name
  int64_t window = 600;  // s
};

class LoginLimiter {
 public:
  static constexpr size_t kMaxKeys = 100000;

  explicit LoginLimiter(LoginLimits limits = {}) : limits_(limits) {}

  // Whether a login of `user` from `address` may be checked now.
  bool Allowed(std::string_view address, std::string_view user, int64_t now);
  // Counts a failed login.
  void RecordFailure(std::string_view address, std::string_view user, int64_t now);

  // The key an address is counted under: an IPv6 address (also in brackets)
  // as its /64 prefix "2001:db8:1:2::/64"; an IPv4-mapped IPv6 address as
  // the IPv4 address; anything else as it is.
  static std::string AddressKey(std::string_view address);

 private:
  using Counts = std::map<std::string, std::deque<int64_t>, std::less<>>;
  bool Below(Counts& counts, std::string_view key, int limit, int64_t now);
  void Add(Counts& counts, std::string_view key, int limit, int64_t now);

  LoginLimits limits_;
  std::mutex mu_;
  Counts by_address_;
  Counts by_user_;
};

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_LOGIN_LIMITER_H_
