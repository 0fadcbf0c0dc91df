// A file tree as its container sees it, and the comparison of two such trees
// (the conformance kit's fidelity check, docs/design/third-party-providers.md
// §8.2 row 12).
//
// WalkTree reads a host directory as host root, never following a symlink
// (openat/fstatat relative to each directory's descriptor, l*xattr), and
// translates every host id through the container's IdMap back to the id the
// container sees: owners, the ids of POSIX ACL entries and the root id of a
// v3 file capability. An id outside the map is "unmapped". The result is a
// Manifest: one Entry per path, sorted, with the attributes a restore must
// keep (type, owners, mode, size, SHA-256 of the content, symlink target,
// hard-link group, ACLs, other xattrs, capability, sparseness, mtime in ns,
// device numbers).
//
// CompareManifests is pure: two manifests, the paths to ignore and the losses
// the provider declared → the differences, each "<path>: <what> <a> != <b>",
// split into those in declared attributes (a LOSS) and the others (a FAIL).
#ifndef CTDUMP_PROVIDERTEST_TREE_MANIFEST_H_
#define CTDUMP_PROVIDERTEST_TREE_MANIFEST_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/status.h"

namespace ctdump::providertest {

struct Entry {
  std::string path;                     // relative to the root, "." for the root itself; raw bytes
  char type = '?';                      // f d l p c b s
  std::optional<uint32_t> uid, gid;     // container ids; nullopt: unmapped
  uint32_t mode = 0;                    // permission bits with setuid/setgid/sticky
  uint64_t size = 0;                    // regular files
  std::string sha256;                   // regular files, hex
  std::string target;                   // symlinks
  std::string hardlinks;                // sorted members of its hard-link group, '\n'-joined
  std::string acl_access, acl_default;  // "u::rw-,u:1000:r--,g::r--,m::rw-,o::r--"
  std::map<std::string, std::string> xattrs;  // name → hex, without ACLs and capability
  std::string fcaps;                          // "eff=1 perm=.. inh=.. rootid=0", or ""
  bool sparse = false;                        // regular file with a hole before EOF
  int64_t mtime_ns = 0;
  std::string rdev;  // "major:minor" for devices

  bool operator==(const Entry&) const = default;
};

using Manifest = std::vector<Entry>;  // sorted by path

// Walks `root` (a directory). I/O errors name the path.
Result<Manifest> WalkTree(const std::string& root, const IdMap& map);

// The xattr value of a POSIX ACL (version 2 header, entries {tag u16, perm
// u16, id u32}, little-endian) as text, ids translated by `map` ('u' for
// user entries, 'g' for group entries); InvalidArgument when malformed.
Result<std::string> AclText(const std::string& xattr, const IdMap& map);
// A security.capability value (v2 or v3) as text; the root id of v3 is
// translated by `map`, v2 reports root id 0.
Result<std::string> CapabilityText(const std::string& xattr, const IdMap& map);

// Losses the providers may declare (docs/provider-protocol.md §7).
inline constexpr const char* kLossNames[] = {"acl",    "xattr",    "fcaps", "mtime-subsecond",
                                             "sparse", "hardlink", "fifo",  "root-entry"};

struct CompareOptions {
  // Paths not compared: exact paths, or "dir/*" for everything below dir.
  std::vector<std::string> ignore;
  // Declared losses (kLossNames): differences in these attributes are
  // reported as declared rather than failures.
  std::set<std::string> losses;
};

struct Comparison {
  uint64_t entries = 0;               // compared entries (of the source)
  uint64_t equal = 0;                 // of which equal in every attribute
  std::vector<std::string> failures;  // "<path>: <what> <a> != <b>"
  std::vector<std::string> declared;  // differences in declared attributes
};

// `source` against `restored`. Pure.
Comparison CompareManifests(const Manifest& source, const Manifest& restored,
                            const CompareOptions& options);

// A path for messages: bytes outside printable ASCII as \ooo.
std::string DisplayPath(const std::string& raw);

}  // namespace ctdump::providertest

#endif  // CTDUMP_PROVIDERTEST_TREE_MANIFEST_H_
