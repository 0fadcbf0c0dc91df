// The key file and the key-derivation labels: every value here is part of
// the on-disk format and is never changed once shipped. Spec:
// docs/formats/key-file.md.
//
// A key file is a small JSON text object (UTF-8, one object, unknown members
// ignored), written by Key::SaveFile and read by Key::LoadFile. Version 2:
//
//   {
//     "format": "ctdump-key",                    kKeyFileFormat
//     "version": 2,                              kKeyFileVersion
//     "created": "2024-05-01T12:00:00Z",         RFC 3339 UTC
//     "modified": "2024-05-01T12:00:00Z",        last passphrase change
//     "kdf": "scrypt",                           kKeyFileKdfScrypt | kKeyFileKdfNone
//     "scrypt": {"n": 65536, "r": 8, "p": 1,     scrypt only: parameters and
//                "salt": "<64 hex digits>"},     the random salt
//     "iv": "<24 hex digits>",                   scrypt only: AES-256-GCM of the
//     "data": "<64 hex digits>",                 master key under the scrypt
//     "tag": "<32 hex digits>",                  output, AAD KeyFileAad()
//     "key": "<64 hex digits>",                  none only: the key in clear
//     "fingerprint": "aa:bb:cc:dd:ee:ff:00:11",  FingerprintString()
//     "checksum": "<16 hex digits>"              SHA-256 of the other members
//   }
//
// Version 1 (still read): format, version 1, created, kdf "none", key,
// fingerprint, checksum = first 8 bytes of SHA-256(key).
#ifndef CTDUMP_CRYPT_KEY_FORMAT_H_
#define CTDUMP_CRYPT_KEY_FORMAT_H_

#include <array>
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
inline constexpr int64_t kKeyFileVersion1 = 1;                    // "version"
inline constexpr int64_t kKeyFileVersion = 2;                     // what we write
inline constexpr std::string_view kKeyFileKdfNone = "none";       // "kdf"
inline constexpr std::string_view kKeyFileKdfScrypt = "scrypt";
inline constexpr size_t kKeyFileChecksumSize = 8;  // "checksum": bytes of SHA-256
inline constexpr size_t kKeyFileSaltSize = 32;     // "scrypt"."salt"
// Anything larger is not a key file (a v2 file is about 600 bytes).
inline constexpr size_t kKeyFileMaxSize = 64 * 1024;

// scrypt's cost parameters. The defaults are PBS's (N = 2^16, r = 8, p = 1:
// 64 MiB and about 0.2 s). A reader accepts N a power of two in
// [2^10, 2^20], r in [1, 32], p in [1, 16] and at most kScryptMaxMemory of
// scrypt memory, so a hostile file cannot make it allocate without bound.
struct ScryptParams {
  uint64_t n = 65536;
  uint32_t r = 8;
  uint32_t p = 1;
};
inline constexpr uint64_t kScryptMaxMemory = uint64_t{256} << 20;

// A parsed key file: everything but the passphrase.
struct KeyFileContents {
  int version = kKeyFileVersion;
  Kdf kdf = Kdf::kNone;
  int64_t created = 0;
  int64_t modified = 0;
  Fingerprint fingerprint{};
  std::array<uint8_t, kKeySize> key{};  // kNone: the master key in clear
  ScryptParams scrypt;                  // kScrypt: ...
  std::array<uint8_t, kKeyFileSaltSize> salt{};
  std::array<uint8_t, kIvSize> iv{};
  std::array<uint8_t, kKeySize> data{};  // the encrypted master key
  std::array<uint8_t, kTagSize> tag{};

  KeyFileInfo Info() const { return {fingerprint, created, modified, kdf, version}; }
  ~KeyFileContents();
};

// Parses key file text (version 1 or 2) without a passphrase. `what` names
// the source in messages (`"<what>": ...`). InvalidArgument when the text is
// not a ctdump key file, or has an unsupported version or kdf; DataLoss
// ("damaged: ...", naming the member) when it is one but a member is missing
// or malformed, the checksum does not match, or a clear key does not match
// its fingerprint.
Result<KeyFileContents> ParseKeyFileText(std::string_view text, const std::string& what);

// The version 2 text of `c` (c.version is ignored).
std::string FormatKeyFileText(const KeyFileContents& c);

// Protects `key` for a version 2 file. kScrypt: fresh random salt and IV, the
// passphrase must not be empty (InvalidArgument).
Result<KeyFileContents> SealKeyFile(const Key& key, Kdf kdf, std::string_view passphrase,
                                    int64_t created, int64_t modified,
                                    const ScryptParams& params = {});

// The key of a parsed file. kScrypt: a wrong passphrase is PermissionDenied
// "wrong passphrase for key file \"<what>\""; a decrypted key that does not
// match the fingerprint is DataLoss.
Result<Key> OpenKeyFile(const KeyFileContents& c, std::string_view passphrase,
                        const std::string& what);

// The AES-256-GCM AAD of a version 2 scrypt file: binds format, version,
// fingerprint and the KDF parameters to the encrypted key.
std::string KeyFileAad(const KeyFileContents& c);

// Compatibility helpers over the above. ParseKeyFile: a file whose key is in
// clear (version 1, or 2 with "kdf": "none"); a passphrase-protected file is
// FailedPrecondition. FormatKeyFile: the version 1 text of `key` created at
// `created_unix` (kept to test that version 1 files stay readable).
Result<Key> ParseKeyFile(std::string_view text, const std::string& what);
std::string FormatKeyFile(const Key& key, int64_t created_unix);

// RFC 3339 UTC "YYYY-MM-DDThh:mm:ssZ" of Unix seconds, and back
// (InvalidArgument for another shape).
std::string Rfc3339Utc(int64_t unix_seconds);
Result<int64_t> ParseRfc3339Utc(std::string_view s);

}  // namespace ctdump::crypt

#endif  // CTDUMP_CRYPT_KEY_FORMAT_H_
