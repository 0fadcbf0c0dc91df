// Random secrets from the kernel's CSPRNG (getrandom(2)).
#ifndef CTDUMP_ACCESS_RANDOM_H_
#define CTDUMP_ACCESS_RANDOM_H_

#include <cstddef>
#include <string>

#include "ctdump/status.h"

namespace ctdump::access {

// `n` random bytes; IOError only if getrandom fails (it does not block once
// the kernel's pool is initialized).
Result<std::string> RandomBytes(size_t n);

// A random UUID version 4 (122 random bits), lowercase:
// "d8a1c0e4-1f5b-4c2e-9a1d-2f3b4c5d6e7f".
Result<std::string> NewUuidV4();

}  // namespace ctdump::access

#endif  // CTDUMP_ACCESS_RANDOM_H_
