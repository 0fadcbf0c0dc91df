// libFuzzer target for ParseKeyFileText (versions 1 and 2). The input is the
// key file text. Errors must be InvalidArgument or DataLoss naming the
// source; an accepted file must survive FormatKeyFileText -> ParseKeyFileText
// with the same contents, and a key in clear must still open. A scrypt file
// with cheap parameters is opened with a wrong passphrase: that must be
// PermissionDenied (or DataLoss), never a key.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypt/crypt.h"
#include "crypt/key_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ctdump::Code;
  using namespace ctdump::crypt;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string what = "fuzz-input";
  ctdump::Result<KeyFileContents> c = ParseKeyFileText(text, what);
  if (!c.ok()) {
    Code code = c.status().code();
    if (code != Code::kInvalidArgument && code != Code::kDataLoss) __builtin_trap();
    if (c.status().message().find("\"fuzz-input\"") != 0) __builtin_trap();
    return 0;
  }
  std::string again = FormatKeyFileText(*c);
  ctdump::Result<KeyFileContents> re = ParseKeyFileText(again, what);
  if (!re.ok()) __builtin_trap();
  if (re->fingerprint != c->fingerprint || re->kdf != c->kdf || re->created != c->created ||
      re->modified != c->modified || re->key != c->key || re->data != c->data ||
      re->salt != c->salt || re->iv != c->iv || re->tag != c->tag)
    __builtin_trap();
  if (c->kdf == Kdf::kNone) {
    ctdump::Result<Key> key = OpenKeyFile(*c, {}, what);
    if (!key.ok() || key->master() != c->key || key->fingerprint() != c->fingerprint)
      __builtin_trap();
  } else if (c->scrypt.n <= 1024 && c->scrypt.r <= 8 && c->scrypt.p <= 1) {
    ctdump::Result<Key> key = OpenKeyFile(*c, "fuzz passphrase", what);
    if (key.ok()) __builtin_trap();  // 2^-128: a forged tag
    if (key.status().code() != Code::kPermissionDenied && key.status().code() != Code::kDataLoss)
      __builtin_trap();
  }
  return 0;
}
