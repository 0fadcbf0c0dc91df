// Writing a file tree as a POSIX pax archive (libarchive), as the process
// that calls it sees the tree: run it as the container's root (in the
// container's user namespace) and owners come out container-view.
//
// The format is vzdump's: member names "./path", numeric owners, modes with
// setuid/setgid/sticky (a file with an ACL mask: its own mode, group bits
// = the mask), mtimes (before 1970 too, as decimal numbers), symlinks,
// hardlinks, sparse files (holes kept), fifos, devices, sockets skipped,
// user.* and security.capability xattrs (SCHILY.xattr.<name>, '%' and '='
// coded as GNU tar does) and POSIX ACLs (SCHILY.acl.*) in pax headers
// (pax_fix.h), so GNU tar and libarchive read it. Each source is walked
// without crossing into other file systems; sources below it are walked
// separately (they are separate file systems in a container backup).
#ifndef CTDUMP_ARCHIVE_TREE_WRITER_H_
#define CTDUMP_ARCHIVE_TREE_WRITER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::archive {

enum class Compression { kNone, kZstd, kGzip, kLzo };

// vzdump's `compress` values: "zstd", "gzip", "lzo" or "1" (lzo, as in
// vzdump), "0" or "none".
Result<Compression> ParseCompression(const std::string& name);
// ".tar.zst", ".tar.gz", ".tar.lzo", ".tar".
const char* ArchiveSuffix(Compression c);

struct TreeWriterOptions {
  // kLzo is not written here: lzop runs beside (archive/compressor.h).
  Compression compression = Compression::kZstd;
  int zstd_level = 3;    // vzdump's default
  int zstd_threads = 1;  // vzdump --zstd N (0 = half the cores)
  // vzdump exclude-path globs (ExcludeMatcher semantics); excluded
  // directories are pruned.
  std::vector<std::string> exclude_patterns;
  // lost+found at any depth is skipped when set (vzdump does it for
  // unprivileged containers).
  bool skip_lost_and_found = false;
  // bytes/s of archive output, counted on the tar stream before
  // compression, where vzdump puts cstream (tar | cstream | zstd).
  std::optional<uint64_t> bwlimit;
  // Files written first, with these names and contents, owned 0:0, mode 0644
  // (e.g. {"./etc/vzdump/pct.conf", guest config}).
  std::vector<std::pair<std::string, std::string>> prefix_files;
};

struct TreeStats {
  uint64_t entries = 0;
  uint64_t file_bytes = 0;     // regular-file data read
  uint64_t archive_bytes = 0;  // bytes written to out_fd
  uint64_t unreadable = 0;     // entries skipped with a warning (EACCES)
};

// Writes the archive of `sources` ("./", "./mnt/data", or ".") below
// `directory` to `out_fd`. Unreadable files are skipped with a warning
// naming them (container root cannot read host-root files); other errors
// fail. Reports progress and warnings through `observer`.
Result<TreeStats> WriteTree(const std::string& directory, const std::vector<std::string>& sources,
                            const TreeWriterOptions& options, int out_fd, Observer* observer);

}  // namespace ctdump::archive

#endif  // CTDUMP_ARCHIVE_TREE_WRITER_H_
