// The extraction child: the code that runs as the target container's root
// (userns::ForkAsContainerRoot) and writes the tree.
//
// It enters the target root (chdir, checks it is the directory the parent
// saw, chroot, chdir "/"), reads a tar stream (gzip, bzip2, xz, lzma, lz4,
// zstd or none, detected from content) from fd 0 with libarchive and writes
// it with archive_write_disk, reporting on fd 2 (report.h). Every member is
// checked first (entry_check.h): bad names and hardlink targets stop the
// extraction with a refusal; ./dev/* is skipped; existing non-directories
// are kept unless `force` (counted as skipped_existing); owners and ACL
// entries the target map cannot represent fall back and are reported.
//
// The chroot works because the child is root in its own user namespace and
// owns its own mount namespace (CAP_SYS_CHROOT there). It makes the target
// root "/" for the kernel, so no member, symlink or hardlink can reach
// outside it even if a check above were wrong; libarchive's SECURE_*
// flags are kept as a third layer.
#ifndef CTDUMP_EXTRACT_EXTRACT_CHILD_H_
#define CTDUMP_EXTRACT_EXTRACT_CHILD_H_

#include <sys/types.h>

#include <string>

#include "ctdump/idmap.h"
#include "extract/entry_check.h"
#include "extract/extract.h"

namespace ctdump::extract {

struct ChildConfig {
  std::string archive;  // names the source in messages
  std::string root;     // the target directory, as a host path
  dev_t root_dev = 0;   // what the parent saw at `root`
  ino_t root_ino = 0;
  IdMap map;
  ExtractOptions options;
  // The host's /etc/passwd and /etc/group, for ACL entries that carry only
  // a name (ResolveAclName); read by the parent, never through NSS.
  IdDatabase host_users;
  IdDatabase host_groups;
};

// Runs in the forked child; returns its exit code (report.h kExit*).
int RunExtractChild(const ChildConfig& config);

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_EXTRACT_CHILD_H_
