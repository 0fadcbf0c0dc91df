// A snapshot as a pax tar stream: what restore feeds to the safe extraction
// (extract/extract.h) straight from the store, with no temporary copy, and
// what restore-file extracts a selection of.
//
// Members are "./<path>" with the snapshot's owners (container view), modes,
// mtimes, symlinks, hardlinks, devices, fifos, sparse files (holes kept),
// user.* / security.capability xattrs and POSIX ACLs, as the tar writer of
// the `dir` storage writes them, so the extraction treats both alike.
#ifndef CTDUMP_DATASTORE_TAR_EXPORT_H_
#define CTDUMP_DATASTORE_TAR_EXPORT_H_

#include <functional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "datastore/reader.h"

namespace ctdump::datastore {

struct ExportOptions {
  // Only these paths (relative, "etc/passwd") and what lies below them;
  // empty: everything.
  std::vector<std::string> paths;
};

struct ExportStats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

// Writes the tar stream to `write` until done or `closed()` turns true (the
// consumer stopped reading; it reports why). NotFound naming a path of
// `options.paths` that is not in the snapshot.
Result<ExportStats> ExportTar(SnapshotReader& reader, const ExportOptions& options,
                              const std::function<Status(const void* data, size_t size)>& write,
                              const std::function<bool()>& closed, Observer* observer);

// Normalizes a user's path ("/etc/passwd", "./etc/", "etc") to the form of
// the metadata stream ("etc/passwd", "" for the root); InvalidArgument for
// ".." components.
Result<std::string> NormalizeSnapshotPath(const std::string& path);

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_TAR_EXPORT_H_
