#include "crypt/master_key.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "crypt/passphrase.h"
#include "crypt/secret_file.h"
#include "sys/file.h"

namespace ctdump::crypt {
namespace {

constexpr size_t kMaxPemSize = 64 * 1024;
constexpr int kMinBits = 2048;
constexpr size_t kHeaderSize = 8 + kMasterFingerprintSize + kFingerprintSize;
constexpr size_t kPlainSize = kKeySize + kFingerprintSize;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

std::string OpenSslReason() {
  unsigned long err = ERR_peek_last_error();
  char buf[256] = "unknown error";
  if (err != 0) ERR_error_string_n(err, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

std::shared_ptr<EVP_PKEY> Share(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, PkeyFree()); }

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

Status CheckRsa(EVP_PKEY* k, const std::string& what) {
  if (!EVP_PKEY_is_a(k, "RSA"))
    return InvalidArgumentError(fmt::format("\"{}\": not an RSA key", what));
  if (EVP_PKEY_get_bits(k) < kMinBits) {
    return InvalidArgumentError(
        fmt::format("\"{}\": an RSA key of {} bits is too weak (at "
                    "least {})",
                    what, EVP_PKEY_get_bits(k), kMinBits));
  }
  return Status::OK();
}

// An OAEP(SHA-256) context for `k`, initialized by `init`.
Result<PkeyCtx> OaepCtx(EVP_PKEY* k, int (*init)(EVP_PKEY_CTX*)) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, k, nullptr));
  if (!ctx || init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1) {
    return InternalError("RSA-OAEP setup failed: " + OpenSslReason());
  }
  void* label = OPENSSL_memdup(kMasterWrapLabel.data(), kMasterWrapLabel.size());
  if (label == nullptr || EVP_PKEY_CTX_set0_rsa_oaep_label(
                              ctx.get(), label, static_cast<int>(kMasterWrapLabel.size())) != 1) {
    OPENSSL_free(label);
    return InternalError("RSA-OAEP setup failed: " + OpenSslReason());
  }
  return ctx;
}

Result<MasterPublicKey> PublicOf(EVP_PKEY* k, const std::string& what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), k) != 1)
    return InternalError(
        fmt::format("\"{}\": cannot write the public key: {}", what, OpenSslReason()));
  return MasterPublicKey::FromPem(BioText(bio.get()), what);
}

}  // namespace

void PkeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

Result<MasterPublicKey> MasterPublicKey::LoadPem(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, sys::ReadRegularFile(path, kMaxPemSize));
  return FromPem(pem, path);
}

Result<MasterPublicKey> MasterPublicKey::FromPem(std::string_view pem, const std::string& what) {
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    return InvalidArgumentError(fmt::format(
        "\"{}\" is a private key: give the master key's public half (master-public.pem); the "
        "private key belongs offline",
        what));
  }
  if (pem.find("-----BEGIN PUBLIC KEY-----") == std::string_view::npos) {
    return InvalidArgumentError(
        fmt::format("\"{}\": not a PEM public key (no \"-----BEGIN PUBLIC KEY-----\" line)", what));
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* raw = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (raw == nullptr) {
    return InvalidArgumentError(
        fmt::format("\"{}\": damaged PEM public key: {}", what, OpenSslReason()));
  }
  MasterPublicKey k;
  k.pkey_ = Share(raw);
  RETURN_IF_ERROR(CheckRsa(raw, what));
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(raw, &der);
  if (len <= 0) return InternalError(fmt::format("\"{}\": i2d_PUBKEY failed", what));
  Digest d = Sha256(der, static_cast<size_t>(len));
  OPENSSL_free(der);
  std::copy_n(d.bytes.begin(), k.fingerprint_.size(), k.fingerprint_.begin());
  return k;
}

std::string MasterPublicKey::FingerprintString() const {
  std::string s;
  for (size_t i = 0; i < fingerprint_.size(); ++i)
    s += fmt::format("{}{:02x}", i > 0 ? ":" : "", fingerprint_[i]);
  return s;
}

std::string MasterPublicKey::Pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) return {};
  return BioText(bio.get());
}

Result<std::string> MasterPublicKey::Wrap(const Key& key) const {
  ASSIGN_OR_RETURN(PkeyCtx ctx, OaepCtx(pkey_.get(), EVP_PKEY_encrypt_init));
  std::array<uint8_t, kPlainSize> plain{};
  std::copy(key.master().begin(), key.master().end(), plain.begin());
  std::copy(key.fingerprint().begin(), key.fingerprint().end(), plain.begin() + kKeySize);
  size_t out_len = 0;
  std::string out(kMasterWrapMagic);
  out.append(reinterpret_cast<const char*>(fingerprint_.data()), fingerprint_.size());
  out.append(reinterpret_cast<const char*>(key.fingerprint().data()), kFingerprintSize);
  int rc = EVP_PKEY_encrypt(ctx.get(), nullptr, &out_len, plain.data(), plain.size());
  size_t header = out.size();
  out.resize(header + out_len);
  if (rc == 1) {
    rc = EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + header,
                          &out_len, plain.data(), plain.size());
  }
  OPENSSL_cleanse(plain.data(), plain.size());
  if (rc != 1) return InternalError("RSA-OAEP encryption failed: " + OpenSslReason());
  out.resize(header + out_len);
  return out;
}

Result<MasterPrivateKey> MasterPrivateKey::LoadPem(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, sys::ReadRegularFile(path, kMaxPemSize));
  if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") == std::string::npos)
    return LoadPem(path, {});
  ASSIGN_OR_RETURN(std::string pass,
                   ReadPassphrase(fmt::format("Passphrase for master key {}: ", path), false));
  Result<MasterPrivateKey> k = LoadPem(path, pass);
  WipeString(pass);
  return k;
}

Result<MasterPrivateKey> MasterPrivateKey::LoadPem(const std::string& path,
                                                   std::string_view passphrase) {
  ASSIGN_OR_RETURN(std::string pem, sys::ReadRegularFile(path, kMaxPemSize));
  if (pem.find("PRIVATE KEY-----") == std::string::npos) {
    if (pem.find("-----BEGIN PUBLIC KEY-----") != std::string::npos) {
      return InvalidArgumentError(fmt::format(
          "\"{}\" is a public key; the private key is needed (master-private.pem, as written by "
          "`ctdump key create-master-key`)",
          path));
    }
    return InvalidArgumentError(fmt::format(
        "\"{}\": not a PEM private key (no \"-----BEGIN ... PRIVATE KEY-----\" line)", path));
  }
  bool encrypted = pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
                   pem.find("Proc-Type: 4,ENCRYPTED") != std::string::npos;
  if (encrypted && passphrase.empty()) {
    return InvalidArgumentError(
        fmt::format("\"{}\" is encrypted and no passphrase was given", path));
  }
  std::string pass(passphrase);  // PEM_read_bio_PrivateKey wants a C string
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ERR_clear_error();
  EVP_PKEY* raw = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, pass.data()) : nullptr;
  WipeString(pass);
  WipeString(pem);
  if (raw == nullptr) {
    // A wrong passphrase shows as a failed decryption (bad padding) on the
    // error queue; anything else is a damaged file.
    bool decrypt_failed = false;
    for (unsigned long e; (e = ERR_peek_error()) != 0 && !decrypt_failed;) {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof(buf));
      std::string_view r(buf);
      decrypt_failed = r.find("bad decrypt") != r.npos || r.find("cipherfinal") != r.npos;
      if (!decrypt_failed) ERR_get_error();
    }
    std::string reason = OpenSslReason();
    if (encrypted && decrypt_failed)
      return PermissionDeniedError(fmt::format("wrong passphrase for master key \"{}\"", path));
    return InvalidArgumentError(fmt::format("\"{}\": damaged PEM private key: {}", path, reason));
  }
  MasterPrivateKey k;
  k.pkey_ = Share(raw);
  RETURN_IF_ERROR(CheckRsa(raw, path));
  ASSIGN_OR_RETURN(k.public_, PublicOf(raw, path));
  return k;
}

Result<Key> MasterPrivateKey::Unwrap(std::string_view wrapped) const {
  if (wrapped.size() < kHeaderSize || !wrapped.starts_with(kMasterWrapMagic)) {
    return InvalidArgumentError("not a key wrapped for a master key (no \"CTDMKW1\" header)");
  }
  std::array<uint8_t, kMasterFingerprintSize> master_fp{};
  Fingerprint key_fp{};
  std::copy_n(wrapped.begin() + 8, master_fp.size(), master_fp.begin());
  std::copy_n(wrapped.begin() + 8 + master_fp.size(), key_fp.size(), key_fp.begin());
  if (master_fp != public_.fingerprint_) {
    MasterPublicKey other;
    other.fingerprint_ = master_fp;
    return InvalidArgumentError(fmt::format(
        "the key {} was wrapped for master key {}, not for this master key ({})",
        crypt::FingerprintString(key_fp), other.FingerprintString(), public_.FingerprintString()));
  }
  ASSIGN_OR_RETURN(PkeyCtx ctx, OaepCtx(pkey_.get(), EVP_PKEY_decrypt_init));
  std::string_view cipher = wrapped.substr(kHeaderSize);
  std::array<uint8_t, 1024> plain{};
  size_t plain_len = plain.size();
  if (static_cast<int>(cipher.size()) != EVP_PKEY_get_size(pkey_.get()) ||
      EVP_PKEY_decrypt(ctx.get(), plain.data(), &plain_len,
                       reinterpret_cast<const unsigned char*>(cipher.data()), cipher.size()) != 1 ||
      plain_len != kPlainSize) {
    ERR_clear_error();
    OPENSSL_cleanse(plain.data(), plain.size());
    return DataLossError(
        fmt::format("the wrapped copy of key {} is damaged (RSA-OAEP decryption failed)",
                    crypt::FingerprintString(key_fp)));
  }
  std::array<uint8_t, kKeySize> master{};
  std::copy_n(plain.begin(), kKeySize, master.begin());
  bool inner_fp_ok = std::equal(key_fp.begin(), key_fp.end(), plain.begin() + kKeySize);
  OPENSSL_cleanse(plain.data(), plain.size());
  Key key = Key::FromMaster(master);
  OPENSSL_cleanse(master.data(), master.size());
  if (!inner_fp_ok || key.fingerprint() != key_fp) {
    return DataLossError(
        fmt::format("the wrapped copy of key {} is damaged (the unwrapped key has fingerprint {})",
                    crypt::FingerprintString(key_fp), crypt::FingerprintString(key.fingerprint())));
  }
  return key;
}

Status CreateMasterKeyPair(const std::string& public_path, const std::string& private_path,
                           std::string_view passphrase) {
  if (passphrase.empty())
    return InvalidArgumentError("The master key's passphrase must not be empty");
  for (const std::string* p : {&public_path, &private_path}) {
    struct stat st;
    if (::lstat(p->c_str(), &st) == 0)
      return AlreadyExistsError(fmt::format("Refusing to overwrite \"{}\": it exists", *p));
  }
  std::shared_ptr<EVP_PKEY> k =
      Share(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(kMasterKeyBits)));
  if (!k) return InternalError("RSA key generation failed: " + OpenSslReason());
  BioPtr priv(BIO_new(BIO_s_mem()));
  BioPtr pub(BIO_new(BIO_s_mem()));
  std::string pass(passphrase);
  int ok = priv && pub &&
           PEM_write_bio_PKCS8PrivateKey(priv.get(), k.get(), EVP_aes_256_cbc(), pass.data(),
                                         static_cast<int>(pass.size()), nullptr, nullptr) == 1 &&
           PEM_write_bio_PUBKEY(pub.get(), k.get()) == 1;
  WipeString(pass);
  if (!ok) return InternalError("Failed to encode the master key: " + OpenSslReason());
  std::string priv_text = BioText(priv.get());
  Status s = WriteNewFile(private_path, priv_text, 0600, "master private key");
  WipeString(priv_text);
  if (!s.ok()) return s;
  s = WriteNewFile(public_path, BioText(pub.get()), 0644, "master public key");
  if (!s.ok()) ::unlink(private_path.c_str());
  return s;
}

}  // namespace ctdump::crypt
