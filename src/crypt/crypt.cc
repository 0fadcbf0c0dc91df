#include "crypt/crypt.h"

#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "crypt/key_format.h"

namespace ctdump::crypt {
namespace {

// Failures of digests, MACs and key derivation on valid inputs mean a broken
// OpenSSL installation; their callers have no error path, so they abort.
[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "ctdump: fatal OpenSSL error in %s: %lu\n", what, ERR_get_error());
  std::abort();
}

// "<what>: <OpenSSL reason>", clearing this thread's error queue.
std::string OpenSslReason(std::string_view what) {
  unsigned long err = ERR_get_error();
  ERR_clear_error();
  char buf[256] = "unknown error";
  if (err != 0) ERR_error_string_n(err, buf, sizeof(buf));
  return fmt::format("{}: {}", what, buf);
}

// Algorithms are fetched once: an implicit fetch per call (EVP_sha256() and
// friends) costs a lock and a lookup in OpenSSL 3. Fetched objects are
// immutable and safe to share between threads.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) Fatal("EVP_MD_fetch(SHA256)");
  return md;
}

EVP_MAC* HmacMac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) Fatal("EVP_MAC_fetch(HMAC)");
  return mac;
}

EVP_KDF* HkdfKdf() {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) Fatal("EVP_KDF_fetch(HKDF)");
  return kdf;
}

const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) Fatal("EVP_CIPHER_fetch(AES-256-GCM)");
  return cipher;
}

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// HMAC-SHA256 with a key of any length (OpenSSL hashes keys longer than the
// block size, as RFC 2104 says).
Digest Hmac(const void* key, size_t key_size, const void* data, size_t size) {
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(HmacMac()));
  // EVP_MAC_init treats a null key as "keep the previous key": an empty key
  // needs a valid pointer.
  static const unsigned char kEmpty = 0;
  if (key_size == 0) key = &kEmpty;
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                         OSSL_PARAM_construct_end()};
  Digest d;
  size_t len = 0;
  if (!ctx ||
      EVP_MAC_init(ctx.get(), static_cast<const unsigned char*>(key), key_size, params) != 1 ||
      EVP_MAC_update(ctx.get(), static_cast<const unsigned char*>(data), size) != 1 ||
      EVP_MAC_final(ctx.get(), d.bytes.data(), &len, d.bytes.size()) != 1 ||
      len != d.bytes.size()) {
    Fatal("HMAC-SHA256");
  }
  return d;
}

Digest Hmac(const std::array<uint8_t, kKeySize>& key, const void* data, size_t size) {
  return Hmac(key.data(), key.size(), data, size);
}

std::array<uint8_t, kKeySize> Hkdf(const std::array<uint8_t, kKeySize>& master,
                                   std::string_view info) {
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(HkdfKdf()));
  char digest_name[] = "SHA256";
  // No salt parameter: RFC 5869 then uses HashLen zero bytes, the same as an
  // empty salt.
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(master.data()),
                                        master.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  std::array<uint8_t, kKeySize> out{};
  if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) Fatal("HKDF-SHA256");
  return out;
}

// EVP update calls take int lengths; larger buffers go in pieces.
constexpr size_t kMaxUpdate = size_t{1} << 30;

using UpdateFn = int (*)(EVP_CIPHER_CTX*, unsigned char*, int*, const unsigned char*, int);

// Runs `update` over `in` writing to `out` (nullptr: `in` is AAD). Empty
// input is skipped: a null output pointer would turn it into AAD.
bool CipherUpdate(EVP_CIPHER_CTX* ctx, UpdateFn update, std::string_view in, uint8_t* out) {
  size_t done = 0;
  while (done < in.size()) {
    int n = static_cast<int>(std::min(kMaxUpdate, in.size() - done));
    int written = 0;
    if (update(ctx, out ? out + done : nullptr, &written,
               reinterpret_cast<const unsigned char*>(in.data() + done), n) != 1) {
      return false;
    }
    // GCM is a stream mode: output keeps pace with input.
    if (out != nullptr && written != n) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool DecodeHex(std::string_view hex, uint8_t* out, size_t size) {
  if (hex.size() != 2 * size) return false;
  for (size_t i = 0; i < size; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace

std::string Digest::Hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    s[2 * i] = kDigits[bytes[i] >> 4];
    s[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return s;
}

Result<Digest> Digest::FromHex(std::string_view hex) {
  Digest d;
  if (!DecodeHex(hex, d.bytes.data(), d.bytes.size())) {
    return InvalidArgumentError(
        fmt::format("Invalid digest \"{}\": expected 64 hex digits", hex.substr(0, 80)));
  }
  return d;
}

Digest Sha256(const void* data, size_t size) {
  Digest d;
  unsigned int len = 0;
  if (EVP_Digest(data, size, d.bytes.data(), &len, Sha256Md(), nullptr) != 1 ||
      len != d.bytes.size()) {
    Fatal("SHA-256");
  }
  return d;
}

std::string FingerprintString(const Fingerprint& fp) {
  std::string s;
  s.reserve(fp.size() * 3);
  for (size_t i = 0; i < fp.size(); ++i) {
    if (i > 0) s.push_back(':');
    s += fmt::format("{:02x}", fp[i]);
  }
  return s;
}

Digest HmacSha256(std::string_view key, std::string_view data) {
  return Hmac(key.data(), key.size(), data.data(), data.size());
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<Key> Key::Generate() {
  std::array<uint8_t, kKeySize> master{};
  if (RAND_bytes(master.data(), static_cast<int>(master.size())) != 1) {
    return InternalError(OpenSslReason("Failed to generate a key (RAND_bytes)"));
  }
  return FromMaster(master);
}

Key Key::FromMaster(const std::array<uint8_t, kKeySize>& master) {
  Key key;
  key.master_ = master;
  key.enc_key_ = Hkdf(master, kHkdfInfoEncryption);
  key.id_key_ = Hkdf(master, kHkdfInfoId);
  Digest fp = Hmac(key.id_key_, kFingerprintLabel.data(), kFingerprintLabel.size());
  std::copy_n(fp.bytes.begin(), kFingerprintSize, key.fingerprint_.begin());
  return key;
}

Digest Key::KeyedDigest(const void* data, size_t size) const { return Hmac(id_key_, data, size); }

Status Key::Encrypt(std::string_view plain, std::string_view aad, uint8_t iv[kIvSize],
                    uint8_t tag[kTagSize], std::string* out) const {
  if (RAND_bytes(iv, kIvSize) != 1) {
    return InternalError(OpenSslReason("Failed to generate an IV (RAND_bytes)"));
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const size_t old_size = out->size();
  out->resize(old_size + plain.size());
  auto* dst = reinterpret_cast<uint8_t*>(out->data()) + old_size;
  int final_len = 0;
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), Aes256Gcm(), enc_key_.data(), iv, nullptr) != 1 ||
      !CipherUpdate(ctx.get(), EVP_EncryptUpdate, aad, nullptr) ||
      !CipherUpdate(ctx.get(), EVP_EncryptUpdate, plain, dst) ||
      EVP_EncryptFinal_ex(ctx.get(), dst + plain.size(), &final_len) != 1 || final_len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) != 1) {
    out->resize(old_size);
    return InternalError(OpenSslReason("AES-256-GCM encryption failed"));
  }
  return Status::OK();
}

Status Key::Decrypt(std::string_view cipher, std::string_view aad, const uint8_t iv[kIvSize],
                    const uint8_t tag[kTagSize], std::string* out) const {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  uint8_t tag_copy[kTagSize];  // EVP_CIPHER_CTX_ctrl takes a non-const pointer.
  std::copy_n(tag, kTagSize, tag_copy);
  const size_t old_size = out->size();
  out->resize(old_size + cipher.size());
  auto* dst = reinterpret_cast<uint8_t*>(out->data()) + old_size;
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), Aes256Gcm(), enc_key_.data(), iv, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag_copy) != 1 ||
      !CipherUpdate(ctx.get(), EVP_DecryptUpdate, aad, nullptr) ||
      !CipherUpdate(ctx.get(), EVP_DecryptUpdate, cipher, dst)) {
    out->resize(old_size);
    return InternalError(OpenSslReason("AES-256-GCM decryption failed"));
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), dst + cipher.size(), &final_len) != 1 || final_len != 0) {
    ERR_clear_error();
    // Unauthenticated plaintext never reaches the caller.
    std::fill(dst, dst + cipher.size(), 0);
    out->resize(old_size);
    return DataLossError(
        "AES-256-GCM authentication failed (wrong key, or damaged ciphertext, header, IV or tag)");
  }
  return Status::OK();
}

}  // namespace ctdump::crypt
