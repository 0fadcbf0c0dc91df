#include "sys/dir_list.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "sys/unique_fd.h"

namespace ctdump::sys {

namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

// Reads `dir` to its end (or until `visit` says stop). errno is cleared
// before each readdir: only then does a null entry with errno set mean an
// error rather than the end.
Status Visit(DIR* dir, std::string_view what, const DirVisitor& visit) {
  for (;;) {
    errno = 0;
    const struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      if (errno != 0) return ErrnoError(errno, fmt::format("Failed to list {}", what));
      return Status::OK();
    }
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (!visit(name, e->d_type)) return Status::OK();
  }
}

Result<UniqueDir> OpenAt(int dir_fd, std::string_view what) {
  UniqueFd dup(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  if (!dup.valid()) return ErrnoError(errno, fmt::format("Failed to list {}", what));
  UniqueDir dir(::fdopendir(dup.get()));
  if (!dir) return ErrnoError(errno, fmt::format("Failed to list {}", what));
  dup.Release();  // the DIR owns it now
  // The duplicate shares the offset of `dir_fd`, which an earlier listing may
  // have left at the end.
  ::rewinddir(dir.get());
  return dir;
}

}  // namespace

Result<std::vector<DirEntry>> ListDirectory(const std::string& path) {
  UniqueDir dir(::opendir(path.c_str()));
  if (!dir) return ErrnoError(errno, fmt::format("Failed to open directory \"{}\"", path));
  std::vector<DirEntry> out;
  Status s =
      Visit(dir.get(), fmt::format("\"{}\"", path), [&out](std::string_view n, unsigned char t) {
        out.push_back(DirEntry{std::string(n), t});
        return true;
      });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<DirEntry>> ListDirectoryAt(int dir_fd, std::string_view what) {
  std::vector<DirEntry> out;
  Status s = VisitDirectoryAt(dir_fd, what, [&out](std::string_view n, unsigned char t) {
    out.push_back(DirEntry{std::string(n), t});
    return true;
  });
  if (!s.ok()) return s;
  return out;
}

Status VisitDirectoryAt(int dir_fd, std::string_view what, const DirVisitor& visit) {
  ASSIGN_OR_RETURN(UniqueDir dir, OpenAt(dir_fd, what));
  return Visit(dir.get(), what, visit);
}

}  // namespace ctdump::sys
