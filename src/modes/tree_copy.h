// Suspend mode's copier: makes `to` a copy of the tree at `from`, then, on
// later calls, updates the copy to what `from` has become (rsync's two
// passes, without rsync's limits).
//
// The walk is the shared one (archive/tree_walker.h): the same exclusions,
// one file system per source, sockets skipped, the same depth limit and
// bounded descriptors. Every operation on either tree is relative to an open
// directory (openat, mkdirat, linkat, fchownat, utimensat; xattrs through
// /proc/self/fd/<dir>/<name>), so paths beyond PATH_MAX copy like any other,
// and no symlink of the source is ever followed.
//
// What a copy keeps: type, numeric owner, mode (setuid/setgid too), times
// (ns; directories' after their contents), hardlinks, symlink targets,
// devices and fifos, user.* and security.capability xattrs and POSIX ACLs
// (system.posix_acl_*, copied as raw xattrs; the walks that read the copy
// keep nothing else). File data: only the data ranges SEEK_DATA/SEEK_HOLE
// report are copied (copy_file_range, else read/write), the rest stays a
// hole: a 1 TiB file of holes costs nothing, written zeros stay data.
//
// Regular files are copied by a pool of threads (TreeCopyOptions::threads)
// while the walk goes on (modes/tree_copy_file.h): the walk makes
// directories, symlinks and nodes itself, a hardlink waits for its target's
// copy, and directories get their times once every file in them is done. A
// new file is not chowned when the creator's owner is already the source's
// (not in a setgid directory); a file with as many blocks as bytes is copied
// without asking for its holes. A copy needs no durability: nothing is synced.
//
// Sync() after the first: a regular file whose device, inode, type, mode,
// size, mtime and ctime equal what the previous pass saw is neither opened
// nor read (ctime covers owner, mode, xattr and ACL changes); a file whose
// ctime was within a second of that pass's look at it may have changed
// within the same timestamp tick and is copied again. Everything else is
// brought up to date in place, and what vanished from `from` is deleted.
//
// Progress: phase "rsync-first" for the first pass, "rsync-final" for later
// ones (the names of vzdump's rsync passes), file data bytes copied, entries
// walked (of the previous pass's count, a later pass's total), the current
// path; at most every 250 ms and once at the end of a pass.
//
// Files that cannot be copied are named in a warning each (once, not again
// by a later pass) and counted; the copy goes on. A file whose data cannot
// be read is left out of the copy, never copied in part. Files that vanish while the tree is walked
// are no error. Failing to write the copy (ENOSPC, EIO, ...) is.
#ifndef CTDUMP_MODES_TREE_COPY_H_
#define CTDUMP_MODES_TREE_COPY_H_

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::modes {

struct TreeCopyOptions {
  // Below `from`, as for the walk: "./", "./mnt/data" (copied to the same
  // place below `to`; missing parents are created).
  std::vector<std::string> sources = {"./"};
  std::vector<std::string> exclude_patterns;  // vzdump exclude-path globs
  uint64_t bwlimit = 0;                       // bytes of file data per second; 0: unlimited
  // Threads copying regular files besides the walk: -1 one per core (2 to
  // 4), 0 none (the walk copies them). A bandwidth limit means 0.
  int threads = -1;
};

struct TreeCopyStats {
  uint64_t entries = 0;     // walked
  uint64_t copied = 0;      // created or brought up to date
  uint64_t data_bytes = 0;  // file data copied (holes not counted)
  uint64_t deleted = 0;     // removed from the copy (gone from the source)
  uint64_t failed = 0;      // not (completely) copied, each named in a warning
  double seconds = 0;

  // "6712 entries, 6712 copied (188 MiB of file data), 0 deleted, 0 not copied, 2.1 s"
  std::string Summary() const;
};

class TreeCopier {
 public:
  // `to` must exist (an empty directory for the first pass).
  TreeCopier(std::string from, std::string to, TreeCopyOptions options, Observer* observer);
  ~TreeCopier();
  TreeCopier(const TreeCopier&) = delete;
  TreeCopier& operator=(const TreeCopier&) = delete;

  // One pass: the first copies everything, later ones what changed since.
  Result<TreeCopyStats> Sync();

  // What a pass remembers of each source entry.
  struct Seen {
    dev_t dev;
    ino_t ino;
    mode_t mode;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
    bool racy;  // changed within a second before it was looked at
  };

 private:
  class Pass;
  class OnceObserver;
  std::string from_, to_;
  TreeCopyOptions options_;
  std::unique_ptr<OnceObserver> once_;
  int passes_ = 0;
  uint64_t previous_entries_ = 0;  // walked by the last pass: the next one's total
  std::unique_ptr<struct SeenMap> seen_;
};

}  // namespace ctdump::modes

#endif  // CTDUMP_MODES_TREE_COPY_H_
