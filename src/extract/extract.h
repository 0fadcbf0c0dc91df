// Safe extraction of container trees: restore's `tar` and `directory`
// mechanisms.
//
// Extraction runs as the *target* container's root, inside its user
// namespace (userns::ForkAsContainerRoot), chrooted into the target root, so
// owners land shifted by the new container's ID map and nothing can be
// written outside the target. On top of that every entry is checked before
// it is written: absolute names, "..", and hardlink targets that leave the
// root are rejected with an error naming the entry (not skipped).
#ifndef CTDUMP_EXTRACT_EXTRACT_H_
#define CTDUMP_EXTRACT_EXTRACT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::extract {

struct ExtractOptions {
  // Overwrite existing files (default: keep them, like tar --skip-old-files).
  bool force = false;
  // PVE's checks for tar files from external providers: at least 10
  // members, an `sbin` directory/symlink at the top level, no multi-volume
  // members ("checking archive.." and PVE's error texts).
  bool untrusted = false;
  // Container-view ids that the target's map cannot represent (a privileged
  // container's backup restored as unprivileged), as owners and in ACL
  // entries, are replaced by these and reported (count and the first
  // paths). Documented in docs/restore.md.
  uint32_t fallback_uid = 65534;
  uint32_t fallback_gid = 65534;
  std::optional<uint64_t> bwlimit;  // bytes/s read from the source
  // libarchive's check that no member is written through a symlink (on for
  // untrusted archives anyway). The chroot keeps every write inside the
  // target whatever this says.
  bool secure_symlinks = true;
  // Files are written without setuid bits, setgid bits (directories keep
  // theirs: group inheritance, no privilege) and security.capability
  // xattrs: restore-file writes with the stored owners as host root, so a
  // setuid-root shell or a cap_setuid binary from a backup would work on
  // the host. Counted in ExtractStats::stripped_privileges.
  bool strip_privileges = false;
  // The target is the root the caller made for this tree (a restored
  // container's rootfs): the archive's "." entry sets its mode and times,
  // last, as tar -x does. Off, an existing target (restore-file's
  // --target, perhaps /tmp) keeps its own, as every existing directory.
  bool set_root_metadata = false;
  // Members not written, by normalized name ("./etc/vzdump/pct.conf"): a
  // container restore skips the configs vzdump puts into its archives,
  // which the restore reads through the provider (PVE extracts and then
  // unlinks them).
  std::vector<std::string> skip_members;
  // Address space of the extraction child (RLIMIT_AS). libarchive keeps
  // some header data without bound (an old GNU sparse map: a 120 KB zstd
  // archive asked for 2.4 GiB; every directory's deferred metadata until
  // the end): past this the extraction fails naming the limit instead of
  // exhausting the host. 0 = no limit.
  uint64_t memory_limit = uint64_t{2} << 30;
  // Progress (phase "restore"): the backup's logical size (file data), the
  // total of a stream whose own size is unknown; nullopt: none known.
  std::optional<uint64_t> logical_total;
  // Threads that write regular files in parallel in the extraction child
  // (extract/file_writers.h); 0: one per CPU (at most 4), 1: none, the main
  // thread writes everything.
  unsigned writer_threads = 0;
};

struct ExtractStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t skipped_existing = 0;
  uint64_t unmapped_ids = 0;                   // entries whose owner fell back
  std::vector<std::string> unmapped_examples;  // first few such paths
  uint64_t stripped_privileges = 0;            // files that lost setuid/setgid/capabilities
  uint64_t unmapped_acl_entries = 0;           // ACL entries given to the fallback ids
};

// Extracts the (possibly compressed: zstd, gzip, xz, none — detected from
// content) tar file `tar_path` into the directory `root` as the root of a
// container with ID map `map`. `./dev/*` is skipped.
Result<ExtractStats> ExtractTarFile(const std::string& tar_path, const std::string& root,
                                    const IdMap& map, const ExtractOptions& options,
                                    Observer* observer);

// The `directory` mechanism: host root reads `source_dir` (a provider's
// restore directory; trusted as PVE does, may contain mount points) as an
// archive stream and a child in the target's user namespace extracts it.
Result<ExtractStats> CopyDirectory(const std::string& source_dir, const std::string& root,
                                   const IdMap& map, const ExtractOptions& options,
                                   Observer* observer);

// Extracts a tar stream that `produce` writes (it gets a write function and
// a closed() test: true once the child stopped reading) into `root`, as
// ExtractTarFile does with a file. `what` names the source in messages.
// Used for stores that stream a backup (no file in between).
Result<ExtractStats> ExtractStream(
    const std::string& what,
    const std::function<Status(const std::function<Status(const void*, size_t)>& write,
                               const std::function<bool()>& closed)>& produce,
    const std::string& root, const IdMap& map, const ExtractOptions& options, Observer* observer);

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_EXTRACT_H_
