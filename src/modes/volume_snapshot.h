// The file-system calls of snapshot mode: read-only btrfs snapshots of
// subvolumes, and reflink copies (shared extents, `cp --reflink=always`) of
// directories on file systems that can share extents (xfs, btrfs).
// Every function is a thin wrapper: no state, errors name the path.
#ifndef CTDUMP_MODES_VOLUME_SNAPSHOT_H_
#define CTDUMP_MODES_VOLUME_SNAPSHOT_H_

#include <string>

#include "ctdump/status.h"

namespace ctdump::modes {

// True when `path` is the root of a btrfs subvolume.
bool IsBtrfsSubvolume(const std::string& path);
// True when the file system of `dir` can share extents (FICLONE works there).
bool SupportsReflink(const std::string& dir);

// A read-only snapshot of subvolume `source` at `snapshot` (which must not
// exist). The error is the library's reason, without the paths.
Status CreateBtrfsSnapshot(const std::string& source, const std::string& snapshot);
// Deletes the snapshot subvolume `snapshot`; gone already is fine. Error
// "unable to delete snapshot '<path>': <reason>".
Status DeleteBtrfsSnapshot(const std::string& snapshot);
// Copies the tree of `source` (one file system) into directory `copy`
// (created) with shared extents. The error is cp's first line of output.
Status ReflinkCopy(const std::string& source, const std::string& copy);

}  // namespace ctdump::modes

#endif  // CTDUMP_MODES_VOLUME_SNAPSHOT_H_
