// Writing a snapshot: ctdump's (host root's) side of a datastore backup.
//
// The worker stream (entry_format.h) from the user-namespace worker is fed
// in as it arrives. Records go to the metadata stream, file data to the data
// stream; both are cut into content-defined chunks (ctdump/chunker.h), and
// a pool of threads hashes, compresses (zstd, skipped when incompressible),
// encrypts and stores each chunk unless the store has it already. A record
// the worker marks unchanged references the parent snapshot's data: the
// parent's chunks covering it are put into the new data stream as they are
// (consecutive unchanged files share one run of chunks), so an unchanged
// file is neither read nor hashed again.
//
// Finish() writes the two indexes, syncs the backend once (chunks are put
// with deferred durability), re-checks chunks it found stored (datastore.h,
// why gc is safe), and writes the manifest last. Until then nothing of the
// snapshot is visible; Abort() removes the indexes.
//
// The lock (WriterOptions::lock) the caller holds for the backup: on a
// backend with leases the writer checks it as the stream comes in, and
// Finish renews it right before the manifest and publishes only if it was
// held without a gap (datastore.h: a backup whose lease lapsed may have been
// invisible to a gc on another host, so nothing of it may be published).
//
// Threads: Datastore::IoThreads (max(cores, the backend's IoDepth): on RADOS
// each put is a network round trip, so more are kept in flight than there
// are cores). Memory: bounded by the chunks in flight (one running and two
// queued per thread, at most 512 KiB each: 16 threads hold at most 24 MiB),
// the two indexes (40 bytes per chunk) and the parent's data index,
// whatever the number of files.
#ifndef CTDUMP_DATASTORE_WRITER_H_
#define CTDUMP_DATASTORE_WRITER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "datastore/codec.h"
#include "datastore/datastore.h"

namespace ctdump::datastore {

struct WriterOptions {
  std::string volname;  // FormatVolume(vmid, backup_time)
  std::string vmid;
  int64_t backup_time = 0;
  std::string guest_config;
  std::optional<std::string> firewall_config;
  bool unprivileged = false;
  // The content key wrapped to the storage's master public key
  // (crypt::MasterPublicKey::Wrap, raw bytes) and the master key's
  // fingerprint: stored in the manifest's public part, so that the key can
  // be recovered with the master private key. nullopt: no master key.
  std::optional<std::string> wrapped_key;
  std::optional<std::string> master_fingerprint;
  int threads = 0;  // 0: Datastore::IoThreads()
  // The lock held for this backup (BackupLockName(vmid)), taken by the
  // caller with Datastore::TakeLock; "" for none (tests).
  std::string lock;
  // Chunks: LZ4 by default, the fastest (compact.h recompresses them to
  // zstd later); zstd at zstd_level; or none.
  Compression compression = Compression::kLz4;
  int zstd_level = 1;
};

// The parent snapshot used for change detection: a published snapshot
// (LoadParent), or the first pass of a suspend-mode backup held in memory
// (FinishAsParent: `in_memory`; `volname` is then the published snapshot
// that pass took unchanged files from, or empty).
struct ParentSnapshot {
  std::string volname;
  Manifest manifest;
  std::vector<IndexEntry> meta_index;
  std::vector<IndexEntry> data_index;
  bool in_memory = false;
};

struct WriterStats {
  uint64_t entries = 0;
  uint64_t file_bytes = 0;    // logical bytes of regular files
  uint64_t read_bytes = 0;    // bytes the worker read and sent
  uint64_t reused_bytes = 0;  // file bytes taken from the parent unread
  uint64_t reused_files = 0;
  uint64_t chunks = 0;        // chunks hashed
  uint64_t new_chunks = 0;    // chunks written
  uint64_t new_bytes = 0;     // plaintext bytes of new chunks
  uint64_t stored_bytes = 0;  // blob bytes of new chunks
  uint64_t dedup_chunks = 0;  // chunks found stored already
};

class SnapshotWriter {
 public:
  // `parent` may be null (a full backup).
  static Result<std::unique_ptr<SnapshotWriter>> Create(
      Datastore& ds, const WriterOptions& o, std::shared_ptr<const ParentSnapshot> parent,
      Observer* observer);
  ~SnapshotWriter();

  // The next bytes of the worker stream, as they came. Errors name what was
  // wrong with the stream (the worker is not trusted).
  Status Feed(const char* data, size_t size);
  // After the worker ended successfully: the stream must have ended with
  // its end frame. Publishes the snapshot; returns its manifest.
  Result<Manifest> Finish();
  // Instead of Finish: the snapshot as the parent of a next pass over the
  // same tree, publishing nothing (no index, no manifest). Its chunks are
  // synced and re-checked as Finish does; the caller keeps holding the
  // backup lock, taken before this pass, until the next pass has published,
  // so that no gc removes them meanwhile (datastore.h).
  Result<std::shared_ptr<const ParentSnapshot>> FinishAsParent();
  // Removes what was written of the snapshot (not the chunks: gc's job).
  void Abort();

  const WriterStats& stats() const;

 private:
  class Impl;
  explicit SnapshotWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Loads the newest snapshot of `vmid` written with the store's current key
// as the parent, or nullptr if there is none (or it cannot be read: the
// backup is then full, with a warning).
std::shared_ptr<const ParentSnapshot> LoadParent(Datastore& ds, const std::string& vmid,
                                                 Observer* observer);

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_WRITER_H_
