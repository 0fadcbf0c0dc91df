// libFuzzer target for ParseKeyFile. The input is the key file text. Errors
// must be InvalidArgument or DataLoss naming the source; an accepted file
// must survive FormatKeyFile -> ParseKeyFile with the same key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypt/crypt.h"
#include "crypt/key_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ctdump::Code;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string what = "fuzz-input";
  ctdump::Result<ctdump::crypt::Key> key = ctdump::crypt::ParseKeyFile(text, what);
  if (!key.ok()) {
    Code code = key.status().code();
    if (code != Code::kInvalidArgument && code != Code::kDataLoss) __builtin_trap();
    if (key.status().message().find("\"fuzz-input\"") != 0) __builtin_trap();
    return 0;
  }
  std::string again = ctdump::crypt::FormatKeyFile(*key, 1700000000);
  ctdump::Result<ctdump::crypt::Key> reparsed = ctdump::crypt::ParseKeyFile(again, what);
  if (!reparsed.ok()) __builtin_trap();
  if (reparsed->master() != key->master()) __builtin_trap();
  if (reparsed->fingerprint() != key->fingerprint()) __builtin_trap();
  return 0;
}
