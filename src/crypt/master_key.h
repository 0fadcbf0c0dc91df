// The optional RSA master key (PBS's "master key"): an admin keeps the
// private half offline; ctdump stores each backup's content key encrypted to
// the public half, so a lost key file can be recovered from the backups with
// the private key (`key import-with-master-key`).
//
// Files: PEM. The public key is a SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"),
// the private key PKCS#8 encrypted with AES-256-CBC under a passphrase
// ("BEGIN ENCRYPTED PRIVATE KEY"); an unencrypted PKCS#8 or traditional RSA
// private key is read as well. RSA 4096 bits when created here.
//
// Wrapped key (Wrap/Unwrap, raw bytes; docs/formats/key-file.md):
//   magic "CTDMKW1\n" (8) | master fingerprint (8: SHA-256 of the public DER)
//   | key fingerprint (8) | RSA-OAEP(SHA-256, MGF1-SHA-256, label
//   kMasterWrapLabel) of (32-byte key || key fingerprint)
// The fingerprints in clear let Unwrap say which master key a blob needs;
// the key fingerprint inside binds the blob to the key it came from.
//
// Thread-safety: both classes are values; const methods may run in parallel.
#ifndef CTDUMP_CRYPT_MASTER_KEY_H_
#define CTDUMP_CRYPT_MASTER_KEY_H_

#include <memory>
#include <string>
#include <string_view>

#include "crypt/crypt.h"
#include "ctdump/status.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace ctdump::crypt {

inline constexpr std::string_view kMasterWrapMagic = "CTDMKW1\n";
inline constexpr std::string_view kMasterWrapLabel = "ctdump master key wrap v1";
inline constexpr int kMasterKeyBits = 4096;
inline constexpr size_t kMasterFingerprintSize = 8;

struct PkeyFree {
  void operator()(EVP_PKEY* k) const;
};

class MasterPublicKey {
 public:
  // Reads a PEM public key. Errors name the path: missing, not PEM, a
  // private key given instead (InvalidArgument: give the public one), not RSA
  // or shorter than 2048 bits.
  static Result<MasterPublicKey> LoadPem(const std::string& path);
  static Result<MasterPublicKey> FromPem(std::string_view pem, const std::string& what);

  // The wrapped form of `key` (see above): raw bytes.
  Result<std::string> Wrap(const Key& key) const;
  // SHA-256 of the DER public key, first 8 bytes "aa:bb:..".
  std::string FingerprintString() const;
  // The PEM text (SubjectPublicKeyInfo).
  std::string Pem() const;

 private:
  std::shared_ptr<EVP_PKEY> pkey_;
  std::array<uint8_t, kMasterFingerprintSize> fingerprint_{};
  friend class MasterPrivateKey;
};

class MasterPrivateKey {
 public:
  // Reads a PEM private key; an encrypted one asks ReadPassphrase("Passphrase
  // for master key <path>: ", false). Errors name the path: missing, a public
  // key given (InvalidArgument: "is a public key; the private key is
  // needed"), wrong passphrase (PermissionDenied), not RSA.
  static Result<MasterPrivateKey> LoadPem(const std::string& path);
  static Result<MasterPrivateKey> LoadPem(const std::string& path, std::string_view passphrase);

  // The key inside a Wrap() blob. InvalidArgument when the blob was wrapped
  // for another master key (naming both fingerprints) or is not a wrapped
  // key; DataLoss when it is damaged (OAEP fails, or the key does not match
  // its fingerprint).
  Result<Key> Unwrap(std::string_view wrapped) const;
  std::string FingerprintString() const { return public_.FingerprintString(); }
  const MasterPublicKey& public_key() const { return public_; }

 private:
  std::shared_ptr<EVP_PKEY> pkey_;
  MasterPublicKey public_;
};

// Writes `public_path` (0644) and `private_path` (0600, PKCS#8 encrypted with
// AES-256-CBC under `passphrase`, which must not be empty): a new RSA 4096
// pair. Refuses to overwrite either (AlreadyExists, nothing written);
// nothing is left behind on failure.
Status CreateMasterKeyPair(const std::string& public_path, const std::string& private_path,
                           std::string_view passphrase);

}  // namespace ctdump::crypt

#endif  // CTDUMP_CRYPT_MASTER_KEY_H_
