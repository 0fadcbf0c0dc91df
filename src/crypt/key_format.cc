#include "crypt/key_format.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>

namespace ctdump::crypt {
namespace {

using nlohmann::json;

constexpr size_t kFieldQuoteMax = 40;  // of untrusted values quoted in messages

Status NotKeyFile(const std::string& what, std::string_view why) {
  return InvalidArgumentError(fmt::format("\"{}\": not a ctdump key file ({})", what, why));
}

Status Damaged(const std::string& what, std::string_view why) {
  return DataLossError(fmt::format("\"{}\": damaged: {}", what, why));
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The string member `name`, or nullptr when it is missing or not a string.
const std::string* StringMember(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <size_t N>
bool DecodeHex(std::string_view hex, std::array<uint8_t, N>* out) {
  if (hex.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <size_t N>
std::string EncodeHex(const std::array<uint8_t, N>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * N, '\0');
  for (size_t i = 0; i < N; ++i) {
    s[2 * i] = kDigits[bytes[i] >> 4];
    s[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return s;
}

// A hex member of exactly N bytes, or DataLoss naming it.
template <size_t N>
Status HexMember(const json& j, const char* name, const std::string& what,
                 std::array<uint8_t, N>* out) {
  const std::string* s = StringMember(j, name);
  if (s == nullptr) return Damaged(what, fmt::format("\"{}\" is missing or not a string", name));
  if (!DecodeHex(*s, out))
    return Damaged(what, fmt::format("\"{}\" is not {} hex digits", name, 2 * N));
  return Status::OK();
}

Status TimeMember(const json& j, const char* name, const std::string& what, int64_t* out) {
  const std::string* s = StringMember(j, name);
  if (s == nullptr) return Damaged(what, fmt::format("\"{}\" is missing or not a string", name));
  Result<int64_t> t = ParseRfc3339Utc(*s);
  if (!t.ok())
    return Damaged(what, fmt::format("\"{}\" is not a time like 2024-05-01T12:00:00Z", name));
  *out = *t;
  return Status::OK();
}

bool ParseFingerprint(std::string_view s, Fingerprint* fp) {
  if (s.size() != 3 * kFingerprintSize - 1) return false;
  for (size_t i = 0; i < kFingerprintSize; ++i) {
    if (i > 0 && s[3 * i - 1] != ':') return false;
    int hi = HexValue(s[3 * i]);
    int lo = HexValue(s[3 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*fp)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::string KeyChecksumV1(const std::array<uint8_t, kKeySize>& master) {
  return Sha256(master.data(), master.size()).Hex().substr(0, 2 * kKeyFileChecksumSize);
}

// Version 2: SHA-256 of the compact JSON of every member but "checksum",
// members sorted by name (nlohmann::json's dump()).
std::string ChecksumV2(const json& object) {
  json copy = object;
  copy.erase("checksum");
  std::string canonical = copy.dump();
  std::string sum = Sha256(canonical).Hex().substr(0, 2 * kKeyFileChecksumSize);
  OPENSSL_cleanse(canonical.data(), canonical.size());
  return sum;
}

Status CheckScrypt(const ScryptParams& p) {
  bool pow2 = p.n != 0 && (p.n & (p.n - 1)) == 0;
  if (!pow2 || p.n < (1u << 10) || p.n > (1u << 20) || p.r < 1 || p.r > 32 || p.p < 1 || p.p > 16 ||
      128 * uint64_t{p.r} * p.n > kScryptMaxMemory) {
    return InvalidArgumentError(
        fmt::format("scrypt parameters n={} r={} p={} are out of range", p.n, p.r, p.p));
  }
  return Status::OK();
}

Result<std::array<uint8_t, kKeySize>> Scrypt(std::string_view passphrase,
                                             const std::array<uint8_t, kKeyFileSaltSize>& salt,
                                             const ScryptParams& p) {
  RETURN_IF_ERROR(CheckScrypt(p));
  // OpenSSL's scrypt needs 128*r*(N+2) bytes for V and 128*r*p for B.
  uint64_t maxmem = 128 * uint64_t{p.r} * (p.n + 2) + 128 * uint64_t{p.r} * p.p + (1 << 20);
  std::array<uint8_t, kKeySize> out{};
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), p.n, p.r, p.p,
                     maxmem, out.data(), out.size()) != 1) {
    unsigned long err = ERR_get_error();
    ERR_clear_error();
    char buf[256] = "unknown error";
    if (err != 0) ERR_error_string_n(err, buf, sizeof(buf));
    return InternalError(fmt::format("scrypt key derivation failed: {}", buf));
  }
  return out;
}

Result<KeyFileContents> ParseV1(const json& j, const std::string& what) {
  KeyFileContents c;
  c.version = static_cast<int>(kKeyFileVersion1);
  const std::string* kdf = StringMember(j, "kdf");
  if (kdf == nullptr) return Damaged(what, "\"kdf\" is missing or not a string");
  if (*kdf != kKeyFileKdfNone) {
    return InvalidArgumentError(fmt::format("\"{}\": unsupported key derivation \"{}\"", what,
                                            kdf->substr(0, kFieldQuoteMax)));
  }
  const std::string* created = StringMember(j, "created");
  if (created == nullptr) return Damaged(what, "\"created\" is missing or not a string");
  // Informational in version 1: any string is accepted.
  Result<int64_t> created_unix = ParseRfc3339Utc(*created);
  c.created = created_unix.ok() ? *created_unix : 0;
  c.modified = c.created;
  RETURN_IF_ERROR(HexMember(j, "key", what, &c.key));
  const std::string* checksum = StringMember(j, "checksum");
  if (checksum == nullptr) return Damaged(what, "\"checksum\" is missing or not a string");
  if (Lower(*checksum) != KeyChecksumV1(c.key)) return Damaged(what, "checksum mismatch");
  const std::string* fingerprint = StringMember(j, "fingerprint");
  if (fingerprint == nullptr) return Damaged(what, "\"fingerprint\" is missing or not a string");
  Key key = Key::FromMaster(c.key);
  c.fingerprint = key.fingerprint();
  if (Lower(*fingerprint) != FingerprintString(key.fingerprint())) {
    return Damaged(what, fmt::format("fingerprint mismatch (file says \"{}\", key has {})",
                                     fingerprint->substr(0, kFieldQuoteMax),
                                     FingerprintString(key.fingerprint())));
  }
  return c;
}

Status ParseScryptMembers(const json& j, const std::string& what, KeyFileContents* c) {
  auto it = j.find("scrypt");
  if (it == j.end() || !it->is_object())
    return Damaged(what, "\"scrypt\" is missing or not an object");
  for (const char* name : {"n", "r", "p"}) {
    auto m = it->find(name);
    if (m == it->end() || !m->is_number_unsigned())
      return Damaged(what, fmt::format("\"scrypt\".\"{}\" is missing or not a number", name));
  }
  c->scrypt.n = (*it)["n"].get<uint64_t>();
  uint64_t r = (*it)["r"].get<uint64_t>(), p = (*it)["p"].get<uint64_t>();
  c->scrypt.r = static_cast<uint32_t>(std::min<uint64_t>(r, UINT32_MAX));
  c->scrypt.p = static_cast<uint32_t>(std::min<uint64_t>(p, UINT32_MAX));
  if (Status s = CheckScrypt(c->scrypt); !s.ok())
    return Damaged(what, fmt::format("\"scrypt\": {}", s.message()));
  const std::string* salt = StringMember(*it, "salt");
  if (salt == nullptr) return Damaged(what, "\"scrypt\".\"salt\" is missing or not a string");
  if (!DecodeHex(*salt, &c->salt))
    return Damaged(what,
                   fmt::format("\"scrypt\".\"salt\" is not {} hex digits", 2 * kKeyFileSaltSize));
  RETURN_IF_ERROR(HexMember(j, "iv", what, &c->iv));
  RETURN_IF_ERROR(HexMember(j, "data", what, &c->data));
  RETURN_IF_ERROR(HexMember(j, "tag", what, &c->tag));
  return Status::OK();
}

Result<KeyFileContents> ParseV2(const json& j, const std::string& what) {
  KeyFileContents c;
  c.version = static_cast<int>(kKeyFileVersion);
  RETURN_IF_ERROR(TimeMember(j, "created", what, &c.created));
  RETURN_IF_ERROR(TimeMember(j, "modified", what, &c.modified));
  const std::string* kdf = StringMember(j, "kdf");
  if (kdf == nullptr) return Damaged(what, "\"kdf\" is missing or not a string");
  if (*kdf == kKeyFileKdfNone) {
    c.kdf = Kdf::kNone;
    RETURN_IF_ERROR(HexMember(j, "key", what, &c.key));
  } else if (*kdf == kKeyFileKdfScrypt) {
    c.kdf = Kdf::kScrypt;
    RETURN_IF_ERROR(ParseScryptMembers(j, what, &c));
  } else {
    return InvalidArgumentError(fmt::format("\"{}\": unsupported key derivation \"{}\"", what,
                                            kdf->substr(0, kFieldQuoteMax)));
  }
  const std::string* fingerprint = StringMember(j, "fingerprint");
  if (fingerprint == nullptr) return Damaged(what, "\"fingerprint\" is missing or not a string");
  if (!ParseFingerprint(*fingerprint, &c.fingerprint))
    return Damaged(what, "\"fingerprint\" is not of the form aa:bb:cc:dd:ee:ff:00:11");
  const std::string* checksum = StringMember(j, "checksum");
  if (checksum == nullptr) return Damaged(what, "\"checksum\" is missing or not a string");
  if (Lower(*checksum) != ChecksumV2(j)) return Damaged(what, "checksum mismatch");
  if (c.kdf == Kdf::kNone) {
    Key key = Key::FromMaster(c.key);
    if (key.fingerprint() != c.fingerprint) {
      return Damaged(what, fmt::format("fingerprint mismatch (file says \"{}\", key has {})",
                                       fingerprint->substr(0, kFieldQuoteMax),
                                       FingerprintString(key.fingerprint())));
    }
  }
  return c;
}

}  // namespace

KeyFileContents::~KeyFileContents() { OPENSSL_cleanse(key.data(), key.size()); }

std::string_view KdfName(Kdf kdf) {
  return kdf == Kdf::kScrypt ? kKeyFileKdfScrypt : kKeyFileKdfNone;
}

std::string Rfc3339Utc(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char buf[64];
  if (::gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return "1970-01-01T00:00:00Z";
  return buf;
}

Result<int64_t> ParseRfc3339Utc(std::string_view s) {
  auto bad = [&] {
    return InvalidArgumentError(
        fmt::format("\"{}\" is not a time like 2024-05-01T12:00:00Z", s.substr(0, kFieldQuoteMax)));
  };
  // YYYY-MM-DDThh:mm:ssZ
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  if (s.size() != kShape.size()) return bad();
  for (size_t i = 0; i < s.size(); ++i) {
    if (kShape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != kShape[i])
      return bad();
  }
  auto num = [&](size_t pos, size_t len) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return bad();
  int64_t t = ::timegm(&tm);
  if (Rfc3339Utc(t) != s) return bad();  // 2024-02-31 and the like
  return t;
}

Result<KeyFileContents> ParseKeyFileText(std::string_view text, const std::string& what) {
  if (text.size() > kKeyFileMaxSize) return NotKeyFile(what, "too large");
  json j;
  try {
    j = json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    return NotKeyFile(what, "not JSON");
  }
  if (j.is_discarded()) return NotKeyFile(what, "not JSON");
  if (!j.is_object()) return NotKeyFile(what, "not a JSON object");
  const std::string* format = StringMember(j, "format");
  if (format == nullptr || *format != kKeyFileFormat)
    return NotKeyFile(what, "no \"format\": \"ctdump-key\"");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer())
    return Damaged(what, "\"version\" is missing or not an integer");
  Result<KeyFileContents> c = [&]() -> Result<KeyFileContents> {
    if (*version == kKeyFileVersion1) return ParseV1(j, what);
    if (*version == kKeyFileVersion) return ParseV2(j, what);
    return InvalidArgumentError(
        fmt::format("\"{}\": unsupported key file version {} (this ctdump reads versions 1 and 2)",
                    what, version->dump()));
  }();
  if (auto key = j.find("key"); key != j.end() && key->is_string())
    OPENSSL_cleanse(key->get_ptr<std::string*>()->data(), key->get_ptr<std::string*>()->size());
  return c;
}

std::string FormatKeyFileText(const KeyFileContents& c) {
  nlohmann::ordered_json j;
  j["format"] = kKeyFileFormat;
  j["version"] = kKeyFileVersion;
  j["created"] = Rfc3339Utc(c.created);
  j["modified"] = Rfc3339Utc(c.modified);
  j["kdf"] = KdfName(c.kdf);
  if (c.kdf == Kdf::kScrypt) {
    nlohmann::ordered_json s;
    s["n"] = c.scrypt.n;
    s["r"] = c.scrypt.r;
    s["p"] = c.scrypt.p;
    s["salt"] = EncodeHex(c.salt);
    j["scrypt"] = s;
    j["iv"] = EncodeHex(c.iv);
    j["data"] = EncodeHex(c.data);
    j["tag"] = EncodeHex(c.tag);
  } else {
    j["key"] = EncodeHex(c.key);
  }
  j["fingerprint"] = FingerprintString(c.fingerprint);
  json sorted = json::parse(j.dump());
  j["checksum"] = ChecksumV2(sorted);
  std::string text = j.dump(2) + "\n";
  if (c.kdf == Kdf::kNone) {
    std::string* k = j["key"].get_ptr<std::string*>();
    OPENSSL_cleanse(k->data(), k->size());
    std::string* k2 = sorted["key"].get_ptr<std::string*>();
    OPENSSL_cleanse(k2->data(), k2->size());
  }
  return text;
}

std::string KeyFileAad(const KeyFileContents& c) {
  return fmt::format("{} v{} {} scrypt n={} r={} p={}", kKeyFileFormat, kKeyFileVersion,
                     FingerprintString(c.fingerprint), c.scrypt.n, c.scrypt.r, c.scrypt.p);
}

Result<KeyFileContents> SealKeyFile(const Key& key, Kdf kdf, std::string_view passphrase,
                                    int64_t created, int64_t modified, const ScryptParams& params) {
  KeyFileContents c;
  c.kdf = kdf;
  c.created = created;
  c.modified = modified;
  c.fingerprint = key.fingerprint();
  if (kdf == Kdf::kNone) {
    c.key = key.master();
    return c;
  }
  if (passphrase.empty()) return InvalidArgumentError("The passphrase must not be empty");
  c.scrypt = params;
  if (RAND_bytes(c.salt.data(), static_cast<int>(c.salt.size())) != 1)
    return InternalError("Failed to generate a salt (RAND_bytes)");
  ASSIGN_OR_RETURN(auto derived, Scrypt(passphrase, c.salt, c.scrypt));
  // The scrypt output is used as a master key: its AES-256-GCM sub-key
  // (HKDF "ctdump enc v1") encrypts the file's master key.
  Key wrapping = Key::FromMaster(derived);
  OPENSSL_cleanse(derived.data(), derived.size());
  std::string out;
  const auto& master = key.master();
  Status s = wrapping.Encrypt(
      std::string_view(reinterpret_cast<const char*>(master.data()), master.size()), KeyFileAad(c),
      c.iv.data(), c.tag.data(), &out);
  if (!s.ok()) return s;
  std::copy(out.begin(), out.end(), c.data.begin());
  OPENSSL_cleanse(out.data(), out.size());
  return c;
}

Result<Key> OpenKeyFile(const KeyFileContents& c, std::string_view passphrase,
                        const std::string& what) {
  if (c.kdf == Kdf::kNone) return Key::FromMaster(c.key);
  ASSIGN_OR_RETURN(auto derived, Scrypt(passphrase, c.salt, c.scrypt));
  Key wrapping = Key::FromMaster(derived);
  OPENSSL_cleanse(derived.data(), derived.size());
  std::string plain;
  Status s = wrapping.Decrypt(
      std::string_view(reinterpret_cast<const char*>(c.data.data()), c.data.size()), KeyFileAad(c),
      c.iv.data(), c.tag.data(), &plain);
  // The checksum matched, so the stored members are as written: an
  // authentication failure means another passphrase.
  if (!s.ok())
    return PermissionDeniedError(fmt::format("wrong passphrase for key file \"{}\"", what));
  std::array<uint8_t, kKeySize> master{};
  std::copy(plain.begin(), plain.end(), master.begin());
  OPENSSL_cleanse(plain.data(), plain.size());
  Key key = Key::FromMaster(master);
  OPENSSL_cleanse(master.data(), master.size());
  if (key.fingerprint() != c.fingerprint) {
    return Damaged(
        what, fmt::format("fingerprint mismatch (file says {}, key has {})",
                          FingerprintString(c.fingerprint), FingerprintString(key.fingerprint())));
  }
  return key;
}

Result<Key> ParseKeyFile(std::string_view text, const std::string& what) {
  ASSIGN_OR_RETURN(KeyFileContents c, ParseKeyFileText(text, what));
  if (c.kdf != Kdf::kNone) {
    return FailedPreconditionError(
        fmt::format("\"{}\": the key is protected by a passphrase", what));
  }
  return OpenKeyFile(c, {}, what);
}

std::string FormatKeyFile(const Key& key, int64_t created_unix) {
  nlohmann::ordered_json j;
  j["format"] = kKeyFileFormat;
  j["version"] = kKeyFileVersion1;
  j["created"] = Rfc3339Utc(created_unix);
  j["kdf"] = kKeyFileKdfNone;
  j["key"] = EncodeHex(key.master());
  j["fingerprint"] = FingerprintString(key.fingerprint());
  j["checksum"] = KeyChecksumV1(key.master());
  std::string text = j.dump(2) + "\n";
  OPENSSL_cleanse(j["key"].get_ptr<std::string*>()->data(), 2 * kKeySize);
  return text;
}

}  // namespace ctdump::crypt
