// The file system tree of a datastore snapshot, in memory: what the FUSE
// mount (snapshot_fs.h) serves, built without FUSE so it can be tested alone.
//
// Nodes. One node per file system object: every record of the metadata
// stream (datastore/entry_format.h) gives one node, except a hardlink
// record, which adds its name to its directory pointing at the target's
// node; so all names of a hardlinked file share one node, hence one inode
// number, one set of attributes and one content. A node keeps the record
// minus its path (names live in the directory entries). Node 0 is the root.
//
// Link counts: a file counts its names; a directory 2 plus its
// subdirectories, as on a local file system.
//
// Untrusted input. The records come from a worker that ran as the
// container's root. A record the tree cannot hold (a duplicate name, a
// missing or non-directory parent, a hardlink to nothing or to a directory,
// a name that is "." or "..") is skipped with a warning; it never makes the
// whole snapshot unmountable.
//
// Memory: the records minus their paths, plus one name per directory entry.
//
// Thread-safety: immutable after Finish(); any number of readers.
#ifndef CTDUMP_FUSE_SNAPSHOT_TREE_H_
#define CTDUMP_FUSE_SNAPSHOT_TREE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "datastore/codec.h"
#include "datastore/reader.h"

namespace ctdump::fuse {

using NodeId = uint32_t;
inline constexpr NodeId kRootNode = 0;

struct DirEntry {
  std::string name;
  NodeId node = 0;
};

struct SnapshotNode {
  datastore::Entry entry;     // path cleared; never a hardlink record
  NodeId parent = kRootNode;  // the directory of its first name
  uint32_t nlink = 1;
  std::vector<DirEntry> children;  // directories: sorted bytewise by name
};

class SnapshotTree {
 public:
  size_t size() const { return nodes_.size(); }
  // `id` < size().
  const SnapshotNode& node(NodeId id) const { return nodes_[id]; }

  // The child `name` of directory `dir`, or nullopt (also when `dir` is not
  // a directory). Binary search.
  std::optional<NodeId> Lookup(NodeId dir, std::string_view name) const;
  // The node at `path` relative to the root ("" or "/" = root; no "." or
  // ".." components), or nullopt.
  std::optional<NodeId> Find(std::string_view path) const;
  // A path of `id` for messages ("/dir/file"; "/" for the root): that of its
  // first name for a hardlinked file.
  std::string PathOf(NodeId id) const;

  // Bytes of file data the snapshot stores (holes excluded, each hardlinked
  // file once).
  uint64_t stored_bytes() const { return stored_bytes_; }

 private:
  friend class SnapshotTreeBuilder;
  std::vector<SnapshotNode> nodes_;
  uint64_t stored_bytes_ = 0;
};

// Builds a tree from records fed in metadata stream order.
class SnapshotTreeBuilder {
 public:
  // `observer` (may be null) receives the warnings about skipped records.
  explicit SnapshotTreeBuilder(Observer* observer);

  // Adds one record. Records the tree cannot hold are skipped (see above).
  // InvalidArgument only when the tree would exceed 2^32-2 nodes.
  Status Add(const datastore::Entry& e);
  // The tree; the builder is spent.
  SnapshotTree Finish() &&;

 private:
  void Skip(const datastore::Entry& e, std::string_view why);
  // The directory that holds `path`, or nullopt.
  std::optional<NodeId> ParentDir(std::string_view path, const datastore::Entry& e);
  bool Link(NodeId dir, std::string_view name, NodeId node);

  SnapshotTree tree_;
  Observer* observer_;
  bool root_seen_ = false;
  uint64_t skipped_ = 0;
  // The last parent resolved: records come in walk order, so the next one
  // is most often in the same directory.
  std::string last_dir_path_;
  NodeId last_dir_ = kRootNode;
};

// Reads the metadata stream of `reader` into a tree. Errors are those of
// the stream (DataLoss naming the snapshot).
Result<SnapshotTree> BuildTree(datastore::SnapshotReader& reader, Observer* observer = nullptr);

}  // namespace ctdump::fuse

#endif  // CTDUMP_FUSE_SNAPSHOT_TREE_H_
