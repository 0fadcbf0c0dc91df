// A datastore snapshot mounted read-only with FUSE: `ctdump mount`.
//
// The metadata stream is read once into a SnapshotTree (snapshot_tree.h);
// the file data is read on demand from the data stream, by offset, through
// the snapshot's reader (its chunk cache and read-ahead serve sequential
// reads). Nothing is written anywhere: no cache on disk, no state in the
// store, so a mount may run beside every other operation; a snapshot
// deleted while mounted makes reads fail with EIO.
//
// What is shown, inode by inode (inode number = node id + 1; the root is
// FUSE_ROOT_ID): type and permission bits, owners as stored (the
// container's view: uid 0 is the container's root, not mapped to host
// ids), mtime (as atime too), ctime, size, rdev, symlink targets, and the
// stored extended attributes. st_blocks counts the stored bytes, so a
// sparse file shows its holes. Hardlinks share their inode. POSIX ACLs are
// not shown as system.posix_acl_* attributes: the store keeps them in text
// form, and the kernel wants the binary form; access checks use the mode
// bits (default_permissions).
//
// The mount is read-only for the kernel (`ro`): every write fails with
// EROFS before it reaches ctdump. Mount options: ro, default_permissions,
// fsname=ctdump:<volume>, subtype=ctdump (so `mount` lists it as
// "fuse.ctdump"), allow_other on request.
//
// Concurrency: the session runs single-threaded in the calling thread, so
// the reader (used by one thread at a time) is only ever called from it.
#ifndef CTDUMP_FUSE_SNAPSHOT_FS_H_
#define CTDUMP_FUSE_SNAPSHOT_FS_H_

#include <cstdint>
#include <string>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "datastore/codec.h"
#include "datastore/reader.h"

namespace ctdump::fuse {

struct MountOptions {
  // Serve in the calling thread until unmounted (the only mode: the
  // reader's decoder threads would not survive a fork into the
  // background). false: FailedPrecondition.
  bool foreground = true;
  // Let users other than the mounting one in (allow_other; a non-root user
  // needs user_allow_other in /etc/fuse.conf).
  bool allow_other = false;
  // libfuse's request log on stderr.
  bool debug = false;
};

// Mounts the snapshot of `reader` on `mountpoint` (an existing, empty
// directory: FailedPrecondition naming it otherwise) and serves it until it
// is unmounted (`umount <dir>`, `fusermount3 -u <dir>`) or SIGINT, SIGTERM
// or SIGHUP arrives (sys/signals.h: the handlers are installed if they are
// not yet; the mount is then removed). Returns OK in both cases; errors
// name the snapshot or the mount point. Blocks; logs the mount, the
// unmount, and every read that failed (answered with EIO) to `observer`
// (may be null).
Status MountSnapshot(datastore::SnapshotReader& reader, const std::string& mountpoint,
                     const MountOptions& o, Observer* observer);

// [offset, offset + length) of regular file `e` (holes read as zeros),
// clipped to its size, replacing *out. The ranged read behind the mount.
// DataLoss when the record's regions are inconsistent or the stream is
// damaged.
Status ReadFileRange(datastore::SnapshotReader& reader, const datastore::Entry& e, uint64_t offset,
                     uint64_t length, std::string* out);

}  // namespace ctdump::fuse

#endif  // CTDUMP_FUSE_SNAPSHOT_FS_H_
