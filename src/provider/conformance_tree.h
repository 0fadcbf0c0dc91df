// The provider conformance suite's view of file trees (conformance.h):
// a tree as text, read from a directory or from a tar stream, so that a
// backed-up tree and what the restore gets can be compared entry by entry.
// GoogleTest assertions: test binaries only.
#ifndef CTDUMP_PROVIDER_CONFORMANCE_TREE_H_
#define CTDUMP_PROVIDER_CONFORMANCE_TREE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

struct archive;

namespace ctdump::provider::conformance {

// A file tree as text: every entry by its relative path ("." for the root)
// with type, mode, owners, mtime (not of symlinks), content (size and hash)
// or symlink target; and the groups of names of one file (hardlinks).
struct Tree {
  std::map<std::string, std::string> entries;
  std::set<std::set<std::string>> hardlinks;  // groups of two or more names
};

// The tree below `root` as the host sees it, owners less `id_base`.
void ScanDirectory(const std::string& root, Tree* out, uint32_t id_base = 0);

// The tree a tar stream holds, read by libarchive (any compression it
// knows); `open` opens the archive on the source. Owners as stored.
void ReadTar(const std::string& what, const std::function<int(struct archive*)>& open, Tree* out);

}  // namespace ctdump::provider::conformance

#endif  // CTDUMP_PROVIDER_CONFORMANCE_TREE_H_
