// Compaction: the maintenance step that makes the store small again after
// fast backups.
//
// Backups compress chunks with LZ4 (storage.cfg `compression`, codec.h):
// about twice as fast as zstd level 1 on these machines, so the backup
// window and the CPU a backup takes shrink, at a fifth less reduction.
// Compact rewrites such chunks with zstd at storage.cfg `compact-level`
// (default 3), in the background, so that the store ends up smaller than
// backups that compressed with zstd level 1 themselves would have left it.
// It rewrites uncompressed chunks too: a store with `compression none`
// (the shortest backup window: no codec at all during the backup) gets its
// compression from compact alone; a chunk zstd cannot shrink stays as is.
//
// A chunk's id is the digest of its plaintext, so a recompressed chunk is
// the same chunk: no index or manifest changes, and every reader (restore,
// verify, sync) reads either blob. Each chunk is read, decoded and checked
// (its digest against its name, under its key when encrypted), re-encoded
// under the same key and written over the old object with Put (atomic and
// durable: a reader sees the old or the new blob, never a mix, and a crash
// leaves one of them). Beside the other operations (datastore.h's table):
//   - backups write new chunks with PutIfAbsent and touch stored ones: both
//     are unaffected by a chunk being replaced;
//   - gc may remove an unreferenced chunk compact is rewriting; the rewrite
//     then stores it again (with a fresh mtime) and the next gc removes it:
//     compact never makes a referenced chunk disappear;
//   - verify may move a damaged chunk aside meanwhile; compact only writes
//     a chunk it has decoded and checked, so the rewrite stores it healed.
// Chunks that cannot be decoded are left as they are and counted (verify
// names them); chunks under a key that cannot be loaded are left too.
//
// Which chunks: every chunk the first time (and with CompactOptions::all);
// later, those whose object changed since the last compaction started
// (mtime, less the backend's clock skew and a second), recorded in the
// object "compact.json" ({"since-ns": ...}). A chunk's mtime is when it
// was written (or later, touched), and a compaction lists the chunks after
// it starts: every chunk older than that mark was there for an earlier
// compaction to see, whatever the start of the backup that wrote it. One
// compaction runs at a time (locks/compact).
#ifndef CTDUMP_DATASTORE_COMPACT_H_
#define CTDUMP_DATASTORE_COMPACT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "datastore/datastore.h"

namespace ctdump::datastore {

struct CompactOptions {
  int zstd_level = 0;  // 1-19; 0: the store's compact_level()
  int threads = 0;     // 0: Datastore::IoThreads()
  bool all = false;    // every chunk, not only those changed since the last compaction
  bool dry_run = false;
};

struct CompactReport {
  uint64_t chunks = 0;                // chunk objects in the store
  uint64_t read = 0;                  // changed since the last compaction (or all): read
  uint64_t recompressed = 0;          // LZ4 chunks rewritten with zstd (or would be, dry run)
  uint64_t bytes_before = 0;          // their stored bytes before
  uint64_t bytes_after = 0;           // and after
  uint64_t kept = 0;                  // LZ4 chunks zstd would not make smaller: left
  uint64_t damaged = 0;               // could not be read or decoded: left (run verify)
  uint64_t keyless = 0;               // encrypted with a key that cannot be loaded: left
  bool incremental = false;           // only chunks changed since the last compaction were read
  std::vector<std::string> problems;  // one line per damaged or keyless chunk (at most 100)
};

inline constexpr char kCompactStateName[] = "compact.json";
inline constexpr char kCompactLockName[] = "locks/compact";

// Progress (Observer::OnProgress): phase "compact" (files: chunks read, of
// total_files; bytes: stored bytes saved so far), at most every half second
// and once at the end. Errors of the backend (a chunk that cannot be
// written, the listing) end the compaction with the error; a damaged chunk
// does not.
Result<CompactReport> Compact(Datastore& ds, const CompactOptions& options, Observer* observer);

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_COMPACT_H_
