#include "sys/token_bucket.h"

#include <gtest/gtest.h>

namespace ctdump::sys {
namespace {

TEST(TokenBucketTest, AverageRateAndBurst) {
  using namespace std::chrono;
  auto t = TokenBucket::Clock::time_point();
  TokenBucket b(100000, t);  // 100 kB/s: burst 12500
  uint64_t first = b.Allowance(1 << 20, t);
  EXPECT_EQ(first, 12500u);
  b.Consume(first);
  EXPECT_EQ(b.Allowance(1 << 20, t), 0u);
  EXPECT_GT(b.Delay(1 << 20, t), nanoseconds(0));
  // Over 10 simulated seconds, about 1 MB more goes through.
  uint64_t sent = 0;
  for (int ms = 1; ms <= 10000; ++ms) {
    auto now = t + milliseconds(ms);
    uint64_t a = b.Allowance(1 << 20, now);
    b.Consume(a);
    sent += a;
  }
  EXPECT_NEAR(static_cast<double>(sent), 1e6, 5000);
}

TEST(TokenBucketTest, SlowRateStillMakesProgress) {
  using namespace std::chrono;
  auto t = TokenBucket::Clock::time_point();
  TokenBucket b(10, t);  // burst floor 4096
  uint64_t a = b.Allowance(100000, t);
  EXPECT_EQ(a, 4096u);
  b.Consume(a);
  auto d = b.Delay(100000, t);
  EXPECT_GE(d, seconds(409));
  EXPECT_EQ(b.Allowance(100000, t + d), 4096u);
}

}  // namespace
}  // namespace ctdump::sys
