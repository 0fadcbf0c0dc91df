#include "crypt/secret_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::crypt {

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

Status WriteNewFile(const std::string& path, std::string_view text, mode_t mode,
                    std::string_view what) {
  sys::UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0600));
  if (!fd.valid()) {
    if (errno == EEXIST)
      return AlreadyExistsError(fmt::format("Refusing to overwrite \"{}\": it exists", path));
    return ErrnoError(errno, fmt::format("Failed to create {} \"{}\"", what, path));
  }
  auto fail = [&](Status s) {
    ::unlink(path.c_str());
    return s;
  };
  // The umask may have cleared bits; the mode is exact.
  if (::fchmod(fd.get(), mode) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to chmod {} \"{}\"", what, path)));
  Status s = sys::WriteAll(fd.get(), text, fmt::format("{} \"{}\"", what, path));
  if (!s.ok()) return fail(s);
  if (::fsync(fd.get()) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to fsync {} \"{}\"", what, path)));
  if (::close(fd.Release()) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to close {} \"{}\"", what, path)));
  std::string dir = DirOf(path);
  sys::UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid() || ::fsync(dir_fd.get()) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to fsync directory \"{}\"", dir)));
  return Status::OK();
}

}  // namespace ctdump::crypt
