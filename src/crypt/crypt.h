// Cryptography for the datastore: SHA-256 digests, keyed chunk ids and
// AES-256-GCM, all through OpenSSL's EVP interfaces (SHA-NI and AES-NI when
// the CPU has them).
//
// Concepts. A chunk id is the SHA-256 of the chunk's plaintext in a plain
// store and HMAC-SHA256(id_key, plaintext) under a key, so ids do not reveal
// content hashes. A Key is 32 random bytes (the master key) from which
// HKDF-SHA256 derives the AES-256-GCM key ("ctdump enc v1") and the id key
// ("ctdump id v1"); its fingerprint, shown to users and stored in every
// encrypted blob header, is the first 8 bytes of HMAC-SHA256(id_key,
// "ctdump fingerprint v1"), printed "aa:bb:cc:dd:ee:ff:00:11".
//
// The key file is specified in docs/formats/key-file.md (key_format.h):
// version 2 protects the master key with a passphrase (scrypt, then
// AES-256-GCM); fingerprint and times stay readable without it. Version 1
// files (key in clear) are still read.
//
// Thread-safety: Digest is a value. A Key's const methods may be called from
// several threads at once (no shared mutable state).
#ifndef CTDUMP_CRYPT_CRYPT_H_
#define CTDUMP_CRYPT_CRYPT_H_

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::crypt {

struct Digest {
  std::array<uint8_t, 32> bytes{};

  // 64 lowercase hex digits.
  std::string Hex() const;
  // InvalidArgument unless `hex` is exactly 64 hex digits (either case).
  static Result<Digest> FromHex(std::string_view hex);
  auto operator<=>(const Digest&) const = default;
};

struct DigestHash {
  size_t operator()(const Digest& d) const noexcept {
    size_t h;
    static_assert(sizeof(h) <= sizeof(d.bytes));
    __builtin_memcpy(&h, d.bytes.data(), sizeof(h));
    return h;
  }
};

// SHA-256 of `data`.
Digest Sha256(const void* data, size_t size);
inline Digest Sha256(std::string_view s) { return Sha256(s.data(), s.size()); }

// HMAC-SHA256(key, data) (RFC 2104) with a key of any length: tickets, CSRF
// tokens (access/ticket.h). The chunk id under a Key is the same function.
Digest HmacSha256(std::string_view key, std::string_view data);

// Whether `a` and `b` are equal, in a time that depends on their length only
// (not on where they differ): for comparing MACs and secret hashes. Strings of
// different lengths are unequal at once (lengths are not secret).
bool ConstantTimeEqual(std::string_view a, std::string_view b);

inline constexpr size_t kKeySize = 32;
inline constexpr size_t kIvSize = 12;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kFingerprintSize = 8;

using Fingerprint = std::array<uint8_t, kFingerprintSize>;
// "aa:bb:cc:dd:ee:ff:00:11".
std::string FingerprintString(const Fingerprint& fp);

// How a key file protects the master key: not at all ("none", for unattended
// use) or by a passphrase through scrypt ("scrypt", the default of `key
// create`).
enum class Kdf { kNone, kScrypt };
// "none" | "scrypt".
std::string_view KdfName(Kdf kdf);

// What a key file tells without its passphrase.
struct KeyFileInfo {
  Fingerprint fingerprint{};
  int64_t created = 0;   // Unix seconds
  int64_t modified = 0;  // Unix seconds; = created in a version 1 file
  Kdf kdf = Kdf::kNone;
  int version = 0;  // of the file format
};

class Key {
 public:
  // 32 bytes from the OS's CSPRNG (RAND_bytes).
  static Result<Key> Generate();
  // From the 32-byte master key (tests, key files).
  static Key FromMaster(const std::array<uint8_t, kKeySize>& master);

  // Reads a key file (docs/formats/key-file.md). Errors name `path`: missing
  // (NotFound), unreadable, not a ctdump key file, unsupported version,
  // damaged (DataLoss naming the member, e.g. "checksum mismatch"). For a
  // passphrase-protected file it asks ReadPassphrase("Passphrase for key
  // <path>: ", false) (crypt/passphrase.h); a wrong passphrase is
  // PermissionDenied "wrong passphrase for key file \"<path>\"".
  static Result<Key> LoadFile(const std::string& path);
  // The same with the passphrase given (ignored for "kdf": "none").
  static Result<Key> LoadFile(const std::string& path, std::string_view passphrase);
  // Fingerprint, times, KDF and version of a key file; no passphrase needed.
  // Errors as LoadFile's.
  static Result<KeyFileInfo> ReadFileInfo(const std::string& path);

  // Writes the key file with mode 0600, refusing to overwrite an existing
  // file (AlreadyExists naming it). Durable (fsync) on success; nothing is
  // left behind on failure. `passphrase` must not be empty for kScrypt
  // (InvalidArgument). The 1-argument form writes "kdf": "none".
  Status SaveFile(const std::string& path, Kdf kdf, std::string_view passphrase) const;
  Status SaveFile(const std::string& path) const { return SaveFile(path, Kdf::kNone, {}); }
  // Replaces the existing key file at `path` atomically (temp file, fsync,
  // rename, fsync of the directory: a crash leaves the old or the new file,
  // both working), keeping its `created` time: `key change-passphrase`.
  Status ReplaceFile(const std::string& path, Kdf kdf, std::string_view passphrase,
                     int64_t created) const;

  // HMAC-SHA256(id_key, data): the chunk id (and blob digest) under this key.
  Digest KeyedDigest(const void* data, size_t size) const;

  const Fingerprint& fingerprint() const { return fingerprint_; }

  // AES-256-GCM of `plain` with a fresh random IV; `aad` is authenticated,
  // not encrypted. Appends the ciphertext (same length as `plain`) to `out`.
  Status Encrypt(std::string_view plain, std::string_view aad, uint8_t iv[kIvSize],
                 uint8_t tag[kTagSize], std::string* out) const;
  // The inverse; DataLoss "authentication failed" when the tag does not
  // match (wrong key, or damaged ciphertext/aad/iv/tag). Appends the
  // plaintext to `out` only on success.
  Status Decrypt(std::string_view cipher, std::string_view aad, const uint8_t iv[kIvSize],
                 const uint8_t tag[kTagSize], std::string* out) const;

  const std::array<uint8_t, kKeySize>& master() const { return master_; }

 private:
  Key() = default;
  std::array<uint8_t, kKeySize> master_{};
  std::array<uint8_t, kKeySize> enc_key_{};
  std::array<uint8_t, kKeySize> id_key_{};
  Fingerprint fingerprint_{};
};

}  // namespace ctdump::crypt

#endif  // CTDUMP_CRYPT_CRYPT_H_
