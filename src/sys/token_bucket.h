// A token bucket for --bwlimit: `rate` bytes per second on average, at most
// `burst` bytes at once after a pause. A pure value type driven by the
// caller's clock, so tests step time by hand.
#ifndef CTDUMP_SYS_TOKEN_BUCKET_H_
#define CTDUMP_SYS_TOKEN_BUCKET_H_

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace ctdump::sys {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // rate > 0. The bucket starts full.
  TokenBucket(uint64_t rate, Clock::time_point now)
      : rate_(static_cast<double>(rate)),
        burst_(std::clamp<double>(rate_ / 8, 4096, 1 << 20)),
        tokens_(burst_),
        last_(now) {}

  // Bytes that may be sent now, at most `want`; 0 until at least
  // min(want, 4096) may go, so a slow limit does not mean one-byte writes.
  uint64_t Allowance(uint64_t want, Clock::time_point now) {
    Refill(now);
    double need = std::min<double>(static_cast<double>(want), std::min(burst_, 4096.0));
    if (tokens_ < need) return 0;
    return std::min<uint64_t>(want, static_cast<uint64_t>(tokens_));
  }

  // Records `n` bytes sent (n <= the last Allowance()).
  void Consume(uint64_t n) { tokens_ -= static_cast<double>(n); }

  // How long until Allowance(want) is non-zero.
  std::chrono::nanoseconds Delay(uint64_t want, Clock::time_point now) {
    Refill(now);
    double need = std::min<double>(static_cast<double>(want), std::min(burst_, 4096.0));
    if (tokens_ >= need) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<int64_t>((need - tokens_) / rate_ * 1e9) + 1);
  }

 private:
  void Refill(Clock::time_point now) {
    if (now <= last_) return;
    double dt = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + dt * rate_);
    last_ = now;
  }

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_TOKEN_BUCKET_H_
