// The local-directory object backend: object "a/b/c" is the file <root>/a/b/c.
//
// Publish: data goes to a temp file "<dir>/<base>~tmp.<random>" beside the
// target, is fsynced, then renamed into place and the directory fsynced.
// PutIfAbsent renames with renameat2(RENAME_NOREPLACE), so the kernel decides
// the race atomically (EEXIST -> "already existed"); on file systems without
// it, link() + unlink() gives the same guarantee. '~' cannot occur in an
// object name, so a temp left by a crashed writer is never listed, never read
// and never blocks a later put (RemoveLeftovers removes old ones).
//
// Directories are created on demand and never removed by Delete; only
// RemoveLeftovers removes empty ones, and a put whose directory is removed
// between opening it and creating its temp file opens (creates) it again.
//
// All access goes through a directory fd opened on the root, so the backend is
// stateless beyond it and safe for concurrent use by threads and processes.
#ifndef CTDUMP_OBJSTORE_LOCAL_BACKEND_H_
#define CTDUMP_OBJSTORE_LOCAL_BACKEND_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "ctdump/object_backend.h"

namespace ctdump::objstore {

// Marks a temp file: "<base>" + kLocalTempMarker + random suffix.
inline constexpr std::string_view kLocalTempMarker = "~tmp.";

struct LocalBackendOptions {
  // Permissions of object files (0600 for a store only its owner may read).
  mode_t file_mode = 0644;
  // Permissions of directories the backend creates.
  mode_t dir_mode = 0755;
};

// Opens the store rooted at `root`, which must exist and be a directory
// (NotFound / FailedPrecondition naming it otherwise). The backend creates no
// files until the first put.
Result<std::unique_ptr<ObjectBackend>> OpenLocalBackend(const std::string& root,
                                                        const LocalBackendOptions& options = {});

}  // namespace ctdump::objstore

#endif  // CTDUMP_OBJSTORE_LOCAL_BACKEND_H_
