// Walking a container's file tree as the process that calls it sees it: the
// walk shared by the tar writer (tree_writer.h) and the datastore's worker.
//
// The walk (openat/fstatat relative to open directory descriptors, never
// following symlinks) decides what goes in: exclusions are matched on the
// container-relative path ("/var/tmp/x") and excluded directories are not
// entered; a directory on another device is visited as an entry but not
// entered (tar --one-file-system); sockets are skipped; a source below
// another source is left to its own walk. Names in a directory are sorted
// bytewise, so the same tree always gives the same order (WalkOrderLess).
//
// libarchive's archive_read_disk fills each entry's metadata from the open
// descriptor (ACLs, xattrs, sparse map) where flistxattr shows an xattr to
// keep or an ACL (most files have neither: their entry is their stat, and
// holes are found by SEEK_DATA/SEEK_HOLE when the blocks do not cover the
// size); its path-based lookups (a
// directory's default ACL, symlink targets, a fifo's ACL) get
// /proc/self/fd/<dirfd>/<name>, so they never re-resolve a path through the
// container's symlinks. Only user.* and security.capability xattrs are kept
// (vzdump's --xattrs-include), file flags are not read.
#ifndef CTDUMP_ARCHIVE_TREE_WALKER_H_
#define CTDUMP_ARCHIVE_TREE_WALKER_H_

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

struct archive_entry;

namespace ctdump::archive {

struct WalkOptions {
  // vzdump exclude-path globs (ExcludeMatcher semantics).
  std::vector<std::string> exclude_patterns;
  // lost+found at any depth is skipped (vzdump, unprivileged containers).
  bool skip_lost_and_found = false;
  // Every entry through libarchive's metadata lookups, also those that stat
  // alone describes (the reference the stat-only path must equal; tests).
  bool full_metadata = false;
  // Read ahead of the walk on a second thread while the page cache is cold
  // (tree_walker.cc: Prefetcher): for visitors that read every regular file
  // they are given (a visitor that skips unchanged files would have the
  // prefetcher read what nobody reads). Warm, it costs one probe read per
  // 32 files. The walk then also opens a file that readdir says is regular
  // before any stat: the fstat of the open file is its only stat.
  bool prefetch = false;
  // Tests: set to the number of files the prefetcher read ahead.
  uint64_t* files_read_ahead = nullptr;
};

class EntryVisitor {
 public:
  virtual ~EntryVisitor() = default;

  // Called for a regular file (not a later link of a hardlinked inode)
  // before it is opened. Returning true skips opening and reading it: the
  // visitor takes it as unchanged from `st` alone (SkippedUnchanged).
  virtual bool IsUnchanged(const std::string& rel, const struct stat& st) { return false; }
  virtual Status SkippedUnchanged(const std::string& rel, const struct stat& st) {
    return Status::OK();
  }

  // One entry, pathname "./<rel>" ("./" for the root of the tree). For a
  // regular file `fd` is open for reading its data (the sparse map, if any,
  // is in `e`); -1 otherwise. A later link of a hardlinked inode comes with
  // its hardlink target set and size 0.
  virtual Status Visit(archive_entry* e, const std::string& rel, int fd) = 0;

  // A file or directory that could not be read (counted, warned about).
  virtual void Unreadable(const std::string& rel, int err) {}
};

// "./" -> "", "." -> "", "./mnt/data/" -> "mnt/data"; InvalidArgument for
// anything else.
Result<std::string> NormalizeSource(const std::string& source);

// How deep a walk goes below a source: the contents of a directory nested
// deeper are left out with a warning (counted as unreadable). The walk
// recurses, so this bounds its stack; open files stay few at any depth.
inline constexpr size_t kMaxWalkDepth = 2048;

// Walks `sources` ("./", "./mnt/data", ".") below `directory`, in order.
// Warnings go to `observer`; an error of the visitor ends the walk.
Status WalkTree(const std::string& directory, const std::vector<std::string>& sources,
                const WalkOptions& options, EntryVisitor* visitor, Observer* observer);

// The order of the walk for paths relative to one source: depth first with
// names sorted bytewise, i.e. paths compared component by component.
bool WalkOrderLess(std::string_view a, std::string_view b);

// The data regions of the file `fd` of `size` bytes by SEEK_DATA/SEEK_HOLE,
// in libarchive's form: (offset, length) in order; one (0, 0) when it is all
// hole; empty when it has no hole or the file system cannot tell. Written
// zeros are data. The file offset is left at 0.
std::vector<std::pair<uint64_t, uint64_t>> DataRegions(int fd, uint64_t size);

// Copies [offset, offset+length) of `fd` to `write` in blocks of up to
// buf.size(); a file that ended early makes *shrunk the missing length.
template <typename Write>
Status ReadRange(int fd, uint64_t offset, uint64_t length, std::vector<char>& buf,
                 const std::string& rel, uint64_t* shrunk, Write&& write);

}  // namespace ctdump::archive

#include "archive/tree_walker_inl.h"

#endif  // CTDUMP_ARCHIVE_TREE_WALKER_H_
