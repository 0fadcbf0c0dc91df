// Verifying a backup by reading it back whole, as a restore would, without
// writing anything: for the `dir` storage and external providers (the
// datastore has its own verify, datastore/maintenance.h).
//
// A tar backup is decompressed (zstd frames' content checksums, gzip's
// CRC-32, bzip2's block CRCs, lzop's checksums) and every member and all of
// its data is read, so a truncated or damaged archive fails here and not on
// the day of a restore. A directory backup is streamed as a restore streams
// it (every file read). The guest config must be found, as a restore needs
// it. The provider's restore_container_init/cleanup are called around the
// read, as for a restore.
#ifndef CTDUMP_RESTORE_ARCHIVE_CHECK_H_
#define CTDUMP_RESTORE_ARCHIVE_CHECK_H_

#include <cstdint>
#include <string>

#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/status.h"

namespace ctdump::restore {

struct ArchiveCheck {
  uint64_t entries = 0;     // members read
  uint64_t data_bytes = 0;  // member data read (uncompressed)
  uint64_t read_bytes = 0;  // bytes of the archive file or directory stream
};

// Reads backup `volname` of `provider`. A damaged backup is DataLoss naming
// what is wrong; an unknown one NotFound; SIGINT/SIGTERM Cancelled.
Result<ArchiveCheck> CheckBackup(Provider& provider, const std::string& volname,
                                 Observer* observer);

// The tar file at `path` (regular file; any compression a restore reads),
// read in a child process whose address space is limited to `memory_limit`
// (what the restore's extraction gets): a crafted archive fails, it cannot
// take the host's memory. Member names and hardlink targets must pass the
// restore's rules (extract/entry_check.h).
Result<ArchiveCheck> CheckTarFile(const std::string& path,
                                  uint64_t memory_limit = uint64_t{2} << 30);

}  // namespace ctdump::restore

#endif  // CTDUMP_RESTORE_ARCHIVE_CHECK_H_
