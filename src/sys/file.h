// Small file-system helpers with errors as values. Every message names the path.
#ifndef CTDUMP_SYS_FILE_H_
#define CTDUMP_SYS_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "ctdump/status.h"
#include "sys/unique_fd.h"

namespace ctdump::sys {

// Reads a whole (small) file.
Result<std::string> ReadFile(const std::string& path);

// Reads a file that must be a regular file of at most `max_bytes`: a FIFO, a
// device (a symlink to /dev/zero) or a directory in its place is an error
// naming it, never a hang or an unbounded read. For files that others can
// place (configs, sidecar files beside backups).
Result<std::string> ReadRegularFile(const std::string& path, size_t max_bytes);

// Removes the regular files directly in `dir` whose names start with
// `prefix`, contain `marker` and were last modified more than
// `max_age_seconds` ago (the temp files of writers killed before their
// rename); `removed` gets each removed path. Best effort: errors are skipped.
void RemoveStaleFiles(const std::string& dir, std::string_view prefix, std::string_view marker,
                      int64_t max_age_seconds,
                      const std::function<void(const std::string& path)>& removed);

// Opens `path` read-only if it is a regular file (O_NONBLOCK while opening,
// so a FIFO cannot block; cleared afterwards).
Result<UniqueFd> OpenRegularFile(const std::string& path);

// Writes `content` to `path` atomically: a temp file beside it, fsync, rename,
// fsync of the directory. The temp file is removed on failure.
Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode = 0644);

// mkdir -p; existing directories are fine.
Status MakeDirs(const std::string& path, mode_t mode = 0755);

// rm -rf that does not cross mount points (a mounted snapshot below `path` is an
// error, never a deletion of its content). A missing path is OK.
Status RemoveTree(const std::string& path);
// The same, calling `removed` after each entry with the entries removed so
// far and the sizes of the regular files among them (st_size).
using RemoveProgressFn = std::function<void(uint64_t entries, uint64_t bytes)>;
Status RemoveTree(const std::string& path, const RemoveProgressFn& removed);
// The same, with the files removed by `threads` threads first (unlinks in
// different directories overlap in the kernel), then the directories. Every
// directory is opened beneath `path` with openat2 (no symlink followed, no
// mount crossed: a mount point below is the same error). `removed` is called
// from those threads, one call at a time. The threads are joined before it
// returns. 1 or less: RemoveTree.
Status RemoveTreeOnThreads(const std::string& path, int threads, const RemoveProgressFn& removed);

// mkdtemp(prefix + "XXXXXX"), then `mode`: a fresh directory nobody else can
// have prepared (unlike a predictable name in a shared /var/tmp).
Result<std::string> MakeTempDir(const std::string& prefix, mode_t mode = 0700);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);

// Writes all of `data` to fd, retrying on EINTR/short writes.
Status WriteAll(int fd, std::string_view data, std::string_view what);

// Opens a pipe with O_CLOEXEC; [0] read end, [1] write end.
Status MakePipe(UniqueFd fds[2]);

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_FILE_H_
