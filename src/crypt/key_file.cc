// Key file I/O (Key::LoadFile, ReadFileInfo, SaveFile, ReplaceFile); the
// format itself is key_format.cc.
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "crypt/crypt.h"
#include "crypt/key_format.h"
#include "crypt/passphrase.h"
#include "crypt/secret_file.h"
#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::crypt {
namespace {

// Bounded read: a wrong path (a device, a huge file) must not be slurped.
Result<std::string> ReadKeyFileText(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open key file \"{}\"", path));
  std::string text(kKeyFileMaxSize + 1, '\0');
  size_t size = 0;
  while (size < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      OPENSSL_cleanse(text.data(), text.size());
      return ErrnoError(err, fmt::format("Failed to read key file \"{}\"", path));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  std::string out(text.data(), size);
  OPENSSL_cleanse(text.data(), text.size());
  return out;
}

Result<KeyFileContents> ReadContents(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadKeyFileText(path));
  Result<KeyFileContents> c = ParseKeyFileText(text, path);
  WipeString(text);
  return c;
}

}  // namespace

Result<Key> Key::LoadFile(const std::string& path) {
  ASSIGN_OR_RETURN(KeyFileContents c, ReadContents(path));
  if (c.kdf == Kdf::kNone) return OpenKeyFile(c, {}, path);
  Result<std::string> pass =
      ReadPassphrase(fmt::format("Passphrase for key {}: ", path), /*confirm=*/false);
  if (!pass.ok()) {
    return Status(pass.status().code(),
                  fmt::format("key file \"{}\" is protected by a passphrase: {}", path,
                              pass.status().message()));
  }
  Result<Key> key = OpenKeyFile(c, *pass, path);
  WipeString(*pass);
  return key;
}

Result<Key> Key::LoadFile(const std::string& path, std::string_view passphrase) {
  ASSIGN_OR_RETURN(KeyFileContents c, ReadContents(path));
  return OpenKeyFile(c, passphrase, path);
}

Result<KeyFileInfo> Key::ReadFileInfo(const std::string& path) {
  ASSIGN_OR_RETURN(KeyFileContents c, ReadContents(path));
  return c.Info();
}

Status Key::SaveFile(const std::string& path, Kdf kdf, std::string_view passphrase) const {
  int64_t now = ::time(nullptr);
  ASSIGN_OR_RETURN(KeyFileContents c, SealKeyFile(*this, kdf, passphrase, now, now));
  std::string text = FormatKeyFileText(c);
  Status s = WriteNewFile(path, text, 0600, "key file");
  WipeString(text);
  return s;
}

Status Key::ReplaceFile(const std::string& path, Kdf kdf, std::string_view passphrase,
                        int64_t created) const {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat key file \"{}\"", path));
  if (!S_ISREG(st.st_mode)) {
    return FailedPreconditionError(
        fmt::format("\"{}\" is not a regular file: refusing to replace it", path));
  }
  ASSIGN_OR_RETURN(KeyFileContents c,
                   SealKeyFile(*this, kdf, passphrase, created, ::time(nullptr)));
  std::string text = FormatKeyFileText(c);
  // The temp files of an earlier replace killed before its rename.
  std::string base = path.substr(path.rfind('/') + 1);
  sys::RemoveStaleFiles(DirOf(path), base + ".tmp.", "", -1, [](const std::string&) {});
  // Temp file (0600 from mkostemp) beside it, fsync, rename, fsync of the
  // directory: a crash at any point leaves the old or the new file.
  Status s = sys::WriteFileAtomic(path, text, 0600);
  WipeString(text);
  return s;
}

}  // namespace ctdump::crypt
