// Helpers shared by the unit tests of several modules (header only; no
// GoogleTest dependency). Not for production code.
#ifndef CTDUMP_BASE_TEST_UTIL_H_
#define CTDUMP_BASE_TEST_UTIL_H_

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

namespace ctdump::testing {

// Sets TZ for its lifetime and restores the previous value after.
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    const char* old = getenv("TZ");
    if (old != nullptr) old_ = old;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ScopedTz() {
    if (old_) {
      setenv("TZ", old_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  ScopedTz(const ScopedTz&) = delete;
  ScopedTz& operator=(const ScopedTz&) = delete;

 private:
  std::optional<std::string> old_;
};

// Deterministic bytes covering all 256 values (xorshift32 from `seed`): no
// compressor shrinks them, and two seeds give different contents.
inline std::string PatternBytes(size_t size, uint32_t seed) {
  std::string out(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : out) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<char>(x);
  }
  return out;
}

}  // namespace ctdump::testing

#endif  // CTDUMP_BASE_TEST_UTIL_H_
