#include "access/random.h"

#include <fmt/format.h>
#include <sys/random.h>

#include <cerrno>

namespace ctdump::access {

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(out.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "getrandom");
    }
    got += static_cast<size_t>(r);
  }
  return out;
}

Result<std::string> NewUuidV4() {
  ASSIGN_OR_RETURN(std::string b, RandomBytes(16));
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // variant 10
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out += fmt::format("{:02x}", static_cast<uint8_t>(b[i]));
  }
  return out;
}

}  // namespace ctdump::access
