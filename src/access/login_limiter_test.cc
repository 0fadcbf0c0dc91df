#include "access/login_limiter.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace ctdump::access {
namespace {

constexpr int64_t kT = 1800000000;

TEST(LoginLimiterTest, PerAddressTenInTenMinutes) {
  LoginLimiter l;
  for (int i = 0; i < 10; ++i) {
    std::string user = "u" + std::to_string(i) + "@pam";  // below the per-user limit
    EXPECT_TRUE(l.Allowed("203.0.113.5", user, kT + i)) << i;
    l.RecordFailure("203.0.113.5", user, kT + i);
  }
  EXPECT_FALSE(l.Allowed("203.0.113.5", "new@pam", kT + 10));
  EXPECT_TRUE(l.Allowed("203.0.113.6", "new@pam", kT + 10));  // another address
  // The first failure leaves the window at kT + 600: room for one more.
  EXPECT_FALSE(l.Allowed("203.0.113.5", "new@pam", kT + 599));
  EXPECT_TRUE(l.Allowed("203.0.113.5", "new@pam", kT + 600));
  l.RecordFailure("203.0.113.5", "new@pam", kT + 600);
  EXPECT_FALSE(l.Allowed("203.0.113.5", "new@pam", kT + 600));
  EXPECT_TRUE(l.Allowed("203.0.113.5", "new@pam", kT + 1210));
}

TEST(LoginLimiterTest, PerUserFiveInTenMinutes) {
  LoginLimiter l;
  for (int i = 0; i < 5; ++i) {
    std::string addr = "198.51.100." + std::to_string(i);
    EXPECT_TRUE(l.Allowed(addr, "root@pam", kT));
    l.RecordFailure(addr, "root@pam", kT);
  }
  EXPECT_FALSE(l.Allowed("192.0.2.1", "root@pam", kT + 1));
  EXPECT_TRUE(l.Allowed("192.0.2.1", "alice@pam", kT + 1));
  EXPECT_TRUE(l.Allowed("192.0.2.1", "root@pam", kT + 600));
}

TEST(LoginLimiterTest, Ipv6CountsPerSlash64) {
  EXPECT_EQ(LoginLimiter::AddressKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(LoginLimiter::AddressKey("[2001:db8:1:2::ffff]"), "2001:db8:1:2::/64");
  EXPECT_EQ(LoginLimiter::AddressKey("fe80::1%eth0"), "fe80::/64");
  EXPECT_EQ(LoginLimiter::AddressKey("::ffff:203.0.113.5"), "203.0.113.5");
  EXPECT_EQ(LoginLimiter::AddressKey("203.0.113.5"), "203.0.113.5");
  LoginLimiter l;
  for (int i = 0; i < 10; ++i)
    l.RecordFailure("2001:db8:1:2::" + std::to_string(i + 1), "u" + std::to_string(i), kT);
  EXPECT_FALSE(l.Allowed("2001:db8:1:2:ffff:ffff:ffff:ffff", "x@pam", kT));
  EXPECT_TRUE(l.Allowed("2001:db8:1:3::1", "x@pam", kT));
}

TEST(LoginLimiterTest, CustomLimitsAndThreads) {
  LoginLimiter l({.per_address = 1000, .per_user = 400, .window = 60});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&l] {
      for (int i = 0; i < 100; ++i) l.RecordFailure("192.0.2.1", "root@pam", kT);
    });
  for (auto& t : threads) t.join();
  EXPECT_FALSE(l.Allowed("192.0.2.9", "root@pam", kT));
  EXPECT_TRUE(l.Allowed("192.0.2.1", "alice@pam", kT));
  EXPECT_TRUE(l.Allowed("192.0.2.1", "root@pam", kT + 60));
}

}  // namespace
}  // namespace ctdump::access
