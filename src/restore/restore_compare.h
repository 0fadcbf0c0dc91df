// The restore test's comparison (test_restore.h, phase "compare"): the
// backup is read once more as a restore reads it (the provider's stream, a
// tar file, or a directory streamed as tar) and every entry is checked
// against the restored root file system: type, mode, owner shifted through
// the test container's new ID map, size, symlink target; the content of a
// bounded sample of regular files byte for byte. A tar file is read in a
// child with limited address space, as the restore's extraction is.
#ifndef CTDUMP_RESTORE_RESTORE_COMPARE_H_
#define CTDUMP_RESTORE_RESTORE_COMPARE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/status.h"

namespace ctdump::restore {

struct RestoreTestOptions;  // test_restore.h: the sample's bounds

struct CompareReport {
  uint64_t entries = 0;        // archive entries compared (metadata)
  uint64_t files_sampled = 0;  // regular files compared byte for byte
  uint64_t bytes_sampled = 0;
  uint64_t mismatches = 0;
  std::vector<std::string> first_mismatches;  // up to 10, "<path>: <what>"
};

// Compares the backup `volname` of `p` with `rootfs`, where it was restored
// with `map`: every entry's metadata, a sample (options.sample_files,
// options.sample_bytes) of regular files' content. Errors when the backup
// cannot be read to its end (damaged, no files) or the test is interrupted.
Result<CompareReport> CompareBackup(Provider& p, const std::string& volname,
                                    const RestoreTestOptions& options, const std::string& rootfs,
                                    const IdMap& map, Observer* log);

// One archive entry as a restore sees it (container-view owner).
struct CatalogEntry {
  enum class Type { kFile, kDir, kSymlink, kHardlink, kChar, kBlock, kFifo, kOther };
  std::string path;  // relative, no leading "./" or "/", "" for the root
  Type type = Type::kOther;
  uint32_t mode = 0;  // permission bits (07777)
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  std::string link;  // symlink target / hardlink target path
};

// The differences between `entry` and what lies at rootfs/entry.path on the
// host (owner through `map`; an owner the map cannot represent is not
// compared, the restore gave it the fallback id). Empty: equal. A
// symlink's own mode is not compared; a hardlink must share the inode of its
// target.
std::vector<std::string> CompareEntry(const CatalogEntry& entry, const std::string& rootfs,
                                      const IdMap& map);

// Compares a regular file's content as it arrives in pieces.
class ContentComparer {
 public:
  // Opens rootfs/path (no symlinks followed).
  explicit ContentComparer(const std::string& host_path);
  ~ContentComparer();
  ContentComparer(const ContentComparer&) = delete;
  ContentComparer& operator=(const ContentComparer&) = delete;
  void Feed(const void* data, size_t size);
  // Empty when equal, else what differs ("content differs at byte N", "host
  // file is longer").
  std::string Finish();

 private:
  int fd_ = -1;
  uint64_t offset_ = 0;
  std::string mismatch_;
};

// Whether archive entry number `index` (among regular files, from 0) is in
// the sample of `want` files spread over `total` regular files.
bool InSample(uint64_t index, uint64_t total, uint64_t want);

// Compares the tar file `tar_path` (any compression a restore reads) with
// `rootfs`, where it was restored with `map`, as RunRestoreTest compares a
// backup: every entry's metadata, a sample of regular files' content.
Result<CompareReport> CompareTarWithRoot(const std::string& tar_path, const std::string& rootfs,
                                         const IdMap& map, const RestoreTestOptions& options);

}  // namespace ctdump::restore

#endif  // CTDUMP_RESTORE_RESTORE_COMPARE_H_
