#include "access/login_limiter.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace ctdump::access {
namespace {

// Drops the failures that left the window.
void Expire(std::deque<int64_t>& times, int64_t now, int64_t window) {
  while (!times.empty() && times.front() <= now - window) times.pop_front();
}

}  // namespace

std::string LoginLimiter::AddressKey(std::string_view address) {
  std::string a(address);
  if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  if (size_t pct = a.find('%'); pct != std::string::npos) a.resize(pct);  // zone id
  unsigned char b[16];
  if (::inet_pton(AF_INET6, a.c_str(), b) != 1) return std::string(address);
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, b))
    return fmt::format("{}.{}.{}.{}", b[12], b[13], b[14], b[15]);
  std::fill(b + 8, b + 16, 0);
  char text[INET6_ADDRSTRLEN];
  ::inet_ntop(AF_INET6, b, text, sizeof(text));
  return std::string(text) + "/64";
}

bool LoginLimiter::Below(Counts& counts, std::string_view key, int limit, int64_t now) {
  auto it = counts.find(key);
  if (it == counts.end()) return true;
  Expire(it->second, now, limits_.window);
  if (it->second.empty()) {
    counts.erase(it);
    return true;
  }
  return static_cast<int>(it->second.size()) < limit;
}

void LoginLimiter::Add(Counts& counts, std::string_view key, int limit, int64_t now) {
  if (counts.size() >= kMaxKeys && counts.find(key) == counts.end()) {
    // Bounded memory: drop the expired keys, then the key whose newest
    // failure is oldest.
    for (auto it = counts.begin(); it != counts.end();) {
      Expire(it->second, now, limits_.window);
      it = it->second.empty() ? counts.erase(it) : std::next(it);
    }
    if (counts.size() >= kMaxKeys) {
      auto oldest = std::min_element(
          counts.begin(), counts.end(),
          [](const auto& x, const auto& y) { return x.second.back() < y.second.back(); });
      counts.erase(oldest);
    }
  }
  auto& times = counts[std::string(key)];
  Expire(times, now, limits_.window);
  times.push_back(now);
  // Only whether the limit is reached matters: keep at most `limit` entries.
  while (static_cast<int>(times.size()) > limit) times.pop_front();
}

bool LoginLimiter::Allowed(std::string_view address, std::string_view user, int64_t now) {
  std::string key = AddressKey(address);
  std::lock_guard<std::mutex> lock(mu_);
  bool address_ok = Below(by_address_, key, limits_.per_address, now);
  bool user_ok = Below(by_user_, user, limits_.per_user, now);
  return address_ok && user_ok;
}

void LoginLimiter::RecordFailure(std::string_view address, std::string_view user, int64_t now) {
  std::string key = AddressKey(address);
  std::lock_guard<std::mutex> lock(mu_);
  Add(by_address_, key, limits_.per_address, now);
  Add(by_user_, user, limits_.per_user, now);
}

}  // namespace ctdump::access
