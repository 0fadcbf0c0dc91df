#include "sys/file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "sys/dir_list.h"

namespace ctdump::sys {

namespace {

// Reads `fd` to its end; more than `max_bytes` is an error.
Result<std::string> ReadAll(int fd, const std::string& path, size_t max_bytes) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("Failed to read \"{}\"", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes)
      return InvalidArgumentError(fmt::format("\"{}\" is larger than {} bytes", path, max_bytes));
  }
  return out;
}

}  // namespace

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  return ReadAll(fd.get(), path, SIZE_MAX);
}

Result<UniqueFd> OpenRegularFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", path));
  if (!S_ISREG(st.st_mode))
    return InvalidArgumentError(fmt::format("\"{}\" is not a regular file", path));
  if (::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK) != 0)
    return ErrnoError(errno, fmt::format("Failed to set up \"{}\"", path));
  return fd;
}

void RemoveStaleFiles(const std::string& dir, std::string_view prefix, std::string_view marker,
                      int64_t max_age_seconds,
                      const std::function<void(const std::string& path)>& removed) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return;
  auto entries = ListDirectoryAt(fd.get(), fmt::format("\"{}\"", dir));
  if (!entries.ok()) return;
  const int64_t now = static_cast<int64_t>(::time(nullptr));
  for (const auto& [n, type] : *entries) {
    struct stat st;
    if (!n.starts_with(prefix) || n.find(marker) == std::string::npos) continue;
    if (::fstatat(fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (now - static_cast<int64_t>(st.st_mtime) > max_age_seconds &&
        ::unlinkat(fd.get(), n.c_str(), 0) == 0 && removed)
      removed(dir + "/" + n);
  }
}

Result<std::string> ReadRegularFile(const std::string& path, size_t max_bytes) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularFile(path));
  return ReadAll(fd.get(), path, max_bytes);
}

Status WriteAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("Failed to write {}", what));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

static std::string DirName(const std::string& path) {
  auto pos = path.rfind('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  UniqueFd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to create \"{}\"", tmpl));
  std::string tmp(name.data());
  auto fail = [&](Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  if (::fchmod(fd.get(), mode) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to chmod \"{}\"", tmp)));
  Status s = WriteAll(fd.get(), content, fmt::format("\"{}\"", tmp));
  if (!s.ok()) return fail(s);
  if (::fsync(fd.get()) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to fsync \"{}\"", tmp)));
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(ErrnoError(errno, fmt::format("Failed to rename \"{}\" to \"{}\"", tmp, path)));
  UniqueFd dir(::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());
  return Status::OK();
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return InvalidArgumentError("MakeDirs: empty path");
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
      return ErrnoError(errno, fmt::format("Failed to create directory \"{}\"", cur));
  }
  if (!IsDirectory(path))
    return FailedPreconditionError(fmt::format("\"{}\" is not a directory", path));
  return Status::OK();
}

namespace {

struct RemoveCounts {
  const RemoveProgressFn* removed;
  uint64_t entries = 0, bytes = 0;
  void Count(const struct stat& st) {
    ++entries;
    if (S_ISREG(st.st_mode)) bytes += static_cast<uint64_t>(st.st_size);
    if (*removed) (*removed)(entries, bytes);
  }
};

Status RemoveAt(int parent, const std::string& name, const std::string& full, dev_t dev,
                RemoveCounts* counts) {
  struct stat st;
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::OK();
    return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", full));
  }
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != dev)
      return FailedPreconditionError(
          fmt::format("Refusing to remove \"{}\": it is a mount point", full));
    UniqueFd dfd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dfd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", full));
    ASSIGN_OR_RETURN(std::vector<DirEntry> entries,
                     ListDirectoryAt(dfd.get(), fmt::format("\"{}\"", full)));
    for (const auto& e : entries)
      RETURN_IF_ERROR(RemoveAt(dfd.get(), e.name, full + "/" + e.name, dev, counts));
    if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      return ErrnoError(errno, fmt::format("Failed to remove \"{}\"", full));
    counts->Count(st);
    return Status::OK();
  }
  if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT)
    return ErrnoError(errno, fmt::format("Failed to remove \"{}\"", full));
  counts->Count(st);
  return Status::OK();
}

}  // namespace

Status RemoveTree(const std::string& path) { return RemoveTree(path, RemoveProgressFn()); }

Status RemoveTree(const std::string& path, const RemoveProgressFn& removed) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::OK();
    return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", path));
  }
  std::string parent = DirName(path);
  UniqueFd pfd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!pfd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", parent));
  std::string base = path.substr(path.rfind('/') + 1);
  RemoveCounts counts{&removed};
  return RemoveAt(pfd.get(), base, path, st.st_dev, &counts);
}

Result<std::string> MakeTempDir(const std::string& prefix, mode_t mode) {
  std::string tmpl = prefix + "XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  if (!::mkdtemp(name.data()))
    return ErrnoError(errno, fmt::format("Failed to create a directory \"{}\"", tmpl));
  std::string dir(name.data());
  if (::chmod(dir.c_str(), mode) != 0) {
    int e = errno;
    ::rmdir(dir.c_str());
    return ErrnoError(e, fmt::format("Failed to chmod \"{}\"", dir));
  }
  return dir;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status MakePipe(UniqueFd fds[2]) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoError(errno, "Failed to create a pipe");
  fds[0].Reset(p[0]);
  fds[1].Reset(p[1]);
  return Status::OK();
}

}  // namespace ctdump::sys
