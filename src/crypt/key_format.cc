#include "crypt/key_format.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>

#include "sys/file.h"
#include "sys/unique_fd.h"

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

std::string KeyChecksum(const std::array<uint8_t, kKeySize>& master) {
  return Sha256(master.data(), master.size()).Hex().substr(0, 2 * kKeyFileChecksumSize);
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

Result<Key> ParseV1(const json& j, const std::string& what) {
  const std::string* kdf = StringMember(j, "kdf");
  if (kdf == nullptr) return Damaged(what, "\"kdf\" is missing or not a string");
  if (*kdf != kKeyFileKdfNone) {
    return InvalidArgumentError(fmt::format("\"{}\": unsupported key derivation \"{}\"", what,
                                            kdf->substr(0, kFieldQuoteMax)));
  }
  if (StringMember(j, "created") == nullptr)
    return Damaged(what, "\"created\" is missing or not a string");
  const std::string* key_hex = StringMember(j, "key");
  if (key_hex == nullptr) return Damaged(what, "\"key\" is missing or not a string");
  Result<Digest> key_bytes = Digest::FromHex(*key_hex);
  if (!key_bytes.ok()) return Damaged(what, "\"key\" is not 64 hex digits");
  static_assert(sizeof(key_bytes->bytes) == kKeySize);
  const std::array<uint8_t, kKeySize>& master = key_bytes->bytes;

  const std::string* checksum = StringMember(j, "checksum");
  if (checksum == nullptr) return Damaged(what, "\"checksum\" is missing or not a string");
  if (Lower(*checksum) != KeyChecksum(master)) return Damaged(what, "checksum mismatch");

  const std::string* fingerprint = StringMember(j, "fingerprint");
  if (fingerprint == nullptr) return Damaged(what, "\"fingerprint\" is missing or not a string");
  Key key = Key::FromMaster(master);
  OPENSSL_cleanse(key_bytes->bytes.data(), key_bytes->bytes.size());
  if (Lower(*fingerprint) != FingerprintString(key.fingerprint())) {
    return Damaged(what, fmt::format("fingerprint mismatch (file says \"{}\", key has {})",
                                     fingerprint->substr(0, kFieldQuoteMax),
                                     FingerprintString(key.fingerprint())));
  }
  return key;
}

}  // namespace

Result<Key> ParseKeyFile(std::string_view text, const std::string& what) {
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
  if (*version != kKeyFileVersion) {
    return InvalidArgumentError(
        fmt::format("\"{}\": unsupported key file version {} (this ctdump reads version {})", what,
                    version->dump(), kKeyFileVersion));
  }
  return ParseV1(j, what);
}

std::string FormatKeyFile(const Key& key, int64_t created_unix) {
  nlohmann::ordered_json j;
  j["format"] = kKeyFileFormat;
  j["version"] = kKeyFileVersion;
  j["created"] = Rfc3339Utc(created_unix);
  j["kdf"] = kKeyFileKdfNone;
  Digest master{key.master()};
  j["key"] = master.Hex();
  OPENSSL_cleanse(master.bytes.data(), master.bytes.size());
  j["fingerprint"] = FingerprintString(key.fingerprint());
  j["checksum"] = KeyChecksum(key.master());
  std::string text = j.dump(2) + "\n";
  OPENSSL_cleanse(j["key"].get_ptr<std::string*>()->data(), 2 * kKeySize);
  return text;
}

Result<Key> Key::LoadFile(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open key file \"{}\"", path));
  // Bounded read: a wrong path (a device, a huge file) must not be slurped.
  std::string text(kKeyFileMaxSize + 1, '\0');
  size_t size = 0;
  while (size < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("Failed to read key file \"{}\"", path));
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  Result<Key> key = ParseKeyFile(std::string_view(text.data(), size), path);
  OPENSSL_cleanse(text.data(), text.size());
  return key;
}

Status Key::SaveFile(const std::string& path) const {
  sys::UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    if (errno == EEXIST)
      return AlreadyExistsError(fmt::format("Refusing to overwrite \"{}\": it exists", path));
    return ErrnoError(errno, fmt::format("Failed to create key file \"{}\"", path));
  }
  auto fail = [&](Status s) {
    ::unlink(path.c_str());
    return s;
  };
  // The umask may have cleared bits of 0600; the mode is exact.
  if (::fchmod(fd.get(), 0600) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to chmod key file \"{}\"", path)));
  std::string text = FormatKeyFile(*this, ::time(nullptr));
  Status s = sys::WriteAll(fd.get(), text, fmt::format("key file \"{}\"", path));
  OPENSSL_cleanse(text.data(), text.size());
  if (!s.ok()) return fail(s);
  if (::fsync(fd.get()) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to fsync key file \"{}\"", path)));
  if (::close(fd.Release()) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to close key file \"{}\"", path)));
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  sys::UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid() || ::fsync(dir_fd.get()) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to fsync directory \"{}\"", dir)));
  return Status::OK();
}

}  // namespace ctdump::crypt
