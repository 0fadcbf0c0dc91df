// The datastore's backup worker: runs as the container's root in its user
// namespace (userns::ForkAsContainerRoot), walks the consistent tree with the
// shared walk (archive/tree_walker.h) and writes the worker stream
// (datastore/entry_format.h) to fd 1; messages go to fd 2 (worker_relay.h).
// When fd 1 is a pipe, file data of 64 KiB and more is spliced into it from
// the page cache rather than read and written.
//
// Change detection: ctdump feeds the parent snapshot's metadata stream on
// fd 0. The worker reads it alongside its walk (both in walk order, so
// memory stays flat): a regular file whose size, mtime, ctime and inode
// equal the parent's record is sent as that record marked unchanged and is
// neither opened nor read (ctime covers owner, mode, xattr and ACL changes).
// Everything else is read. When the tree is a copy, see tree_is_copy. The
// bandwidth limit counts the bytes read.
#ifndef CTDUMP_PROVIDERS_DATASTORE_WORKER_H_
#define CTDUMP_PROVIDERS_DATASTORE_WORKER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ctdump::providers {

struct DatastoreWorkerConfig {
  std::string directory;             // the consistent tree
  std::vector<std::string> sources;  // "./", "./mnt/data"
  std::vector<std::string> exclude_patterns;
  bool skip_lost_and_found = false;
  std::optional<uint64_t> bwlimit;  // bytes/s
  bool has_parent = false;          // fd 0 carries the parent's metadata stream
  // The tree is a copy (suspend, reflink snapshot): inode and ctime are new,
  // so a file counts as unchanged when size, mtime, mode, owner, xattrs, ACLs
  // and sparse map equal the parent's record (metadata is read, data is not).
  bool tree_is_copy = false;
  // The parent is a first pass over this same running tree (suspend mode's
  // live pass): a file whose ctime (ns since the epoch) is at or after this
  // may have changed after that pass read it with its ctime unchanged (the
  // kernel stamps from a coarse clock), so it is read again.
  std::optional<int64_t> racy_after_ns;
};

// Runs in the forked worker; returns its exit code.
int RunDatastoreWorker(const DatastoreWorkerConfig& config);

}  // namespace ctdump::providers

#endif  // CTDUMP_PROVIDERS_DATASTORE_WORKER_H_
