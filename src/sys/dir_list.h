// Directory listings with every readdir error reported: a listing that
// stopped early (EIO on a damaged file system, a directory removed while
// read) is an error naming the directory, never a silently shorter list.
#ifndef CTDUMP_SYS_DIR_LIST_H_
#define CTDUMP_SYS_DIR_LIST_H_

#include <dirent.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::sys {

struct DirEntry {
  std::string name;
  // readdir's d_type: DT_UNKNOWN where the file system does not say (callers
  // that need the type then fstatat).
  unsigned char type = DT_UNKNOWN;
};

// Called for each entry of a directory but "." and ".."; returns false to
// stop the listing there (not an error).
using DirVisitor = std::function<bool(std::string_view name, unsigned char type)>;

// The entries of the directory `path` but "." and "..", in readdir order.
// Opening keeps its errno (a missing directory is kNotFound, so callers can
// treat it as empty); messages name `path`.
Result<std::vector<DirEntry>> ListDirectory(const std::string& path);

// The same for the directory open at `dir_fd`, read through a duplicate from
// its start: `dir_fd` stays open and usable for *at calls, but it shares its
// file offset with the duplicate, so one open directory must not be listed by
// two threads at once (open a descriptor of its own, openat(fd, ".")).
// `what` names the directory in messages ("Failed to list <what>"), quoted
// as the caller likes.
Result<std::vector<DirEntry>> ListDirectoryAt(int dir_fd, std::string_view what);

// The streaming form for directories too large to hold in memory or
// listings that stop early; `visit` may make calls that set errno.
Status VisitDirectoryAt(int dir_fd, std::string_view what, const DirVisitor& visit);

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_DIR_LIST_H_
