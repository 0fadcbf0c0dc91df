// The key file and the key-derivation labels: every value here is part of
// the on-disk format and is never changed once shipped. Spec:
// docs/formats/key-file.md.
//
// A key file is a small JSON text object (UTF-8, one object, unknown members
// ignored), written by Key::SaveFile and read by Key::LoadFile:
//
//   {
//     "format": "ctdump-key",                    kKeyFileFormat
//     "version": 1,                              kKeyFileVersion
//     "created": "2024-05-01T12:00:00Z",         RFC 3339 UTC; informational
//     "kdf": "none",                             kKeyFileKdfNone (v1: only value)
//     "key": "<64 lowercase hex digits>",        the 32-byte master key
//     "fingerprint": "aa:bb:cc:dd:ee:ff:00:11",  FingerprintString(), checked
//     "checksum": "<16 lowercase hex digits>"    first 8 bytes of SHA-256(key)
//   }
//
// The key is stored in clear ("kdf": "none"): the file must be protected like
// an SSH private key (mode 0600, never stored next to the backups).
#ifndef CTDUMP_CRYPT_KEY_FORMAT_H_
#define CTDUMP_CRYPT_KEY_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypt/crypt.h"
#include "ctdump/status.h"

namespace ctdump::crypt {

// HKDF-SHA256 info strings (salt empty) deriving the sub-keys from the
// master key, and the HMAC label whose tag is the fingerprint.
inline constexpr std::string_view kHkdfInfoEncryption = "ctdump enc v1";
inline constexpr std::string_view kHkdfInfoId = "ctdump id v1";
inline constexpr std::string_view kFingerprintLabel = "ctdump fingerprint v1";

// Key file members.
inline constexpr std::string_view kKeyFileFormat = "ctdump-key";  // "format"
inline constexpr int64_t kKeyFileVersion = 1;                     // "version"
inline constexpr std::string_view kKeyFileKdfNone = "none";       // "kdf"
inline constexpr size_t kKeyFileChecksumSize = 8;  // "checksum": bytes of SHA-256(key)
// Anything larger is not a key file (a v1 file is about 300 bytes).
inline constexpr size_t kKeyFileMaxSize = 64 * 1024;

// Parses the text of a key file. `what` names the source in messages (the
// path: `"<what>": not a ctdump key file`). Errors: InvalidArgument when the
// text is not a ctdump key file, has an unsupported version or kdf; DataLoss
// ("damaged: ...") when it is one but a member is missing or malformed, or
// the checksum or fingerprint does not match the key.
Result<Key> ParseKeyFile(std::string_view text, const std::string& what);

// The key file text for `key`, "created" at `created_unix` (seconds since
// the epoch, shown in UTC). ParseKeyFile(FormatKeyFile(k, t)) gives k.
std::string FormatKeyFile(const Key& key, int64_t created_unix);

}  // namespace ctdump::crypt

#endif  // CTDUMP_CRYPT_KEY_FORMAT_H_
