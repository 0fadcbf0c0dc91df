// Sync: copying snapshots from one datastore to another (`ctdump sync`, the
// `sync:` job), as PBS's sync job pulls a datastore.
//
// A snapshot is copied byte for byte: its chunks, indexes, task log, notes
// and protected marker, then its manifest last (verify.json is not copied:
// the target verifies itself). Nothing is decrypted or re-encoded, so an
// encrypted snapshot is copied without its key and its manifest's signature
// stays valid. Only chunks the target lacks are sent; each is checked on
// arrival before it is stored: a plain chunk by its SHA-256 id, an encrypted
// one whose key the source can load without a passphrase fully, else by its
// header, sizes and CRC (codec.h, CheckBlobWithoutKey). A damaged source
// chunk fails its snapshot, naming the chunk; the others are still copied.
//
// On the target a sync writes like a backup (datastore.h, why gc is safe):
// per container it takes the target's locks/backup.<vmid>, stores chunks
// with PutIfAbsent(kDeferred), touches the chunks it finds stored, syncs,
// re-checks the touched chunks once any gc that overlapped has ended
// (sending again any that gc removed meanwhile), and writes the manifest
// with PutIfAbsent. So gc on the target is safe beside it, and a backup of
// the same container on the target waits for the lock (is refused), as
// beside another backup. On the source a sync only reads: backups, prune and
// gc go on; a snapshot pruned on the source while it is copied is skipped.
//
// Interrupted (a signal: sys::CheckInterrupted; or killed), the target
// shows nothing of the snapshot being copied (no manifest); chunks already
// sent stay and the next run sends only what is missing. A SIGKILL leaves
// the lock: the next run on this host takes it over (a dead process's), on
// a backend with leases (RADOS) any host takes it once its lease expired;
// the leftovers are gc's as a killed backup's. A sync whose lease lapsed
// (datastore.h) publishes nothing more.
//
// Snapshots whose manifest is neither signed nor encrypted are refused for a
// target storage that has an encryption key: such a store refuses unsigned
// manifests when it reads them (Datastore::ReadManifest), so the copy could
// not be restored. The other way is fine: an encrypted snapshot in a store
// without its key is listed there and restored with the key.
//
// Threads: chunks are checked and stored on max(cores, target IoDepth())
// threads; memory stays bounded by two chunks per thread and the indexes of
// one snapshot.
#ifndef CTDUMP_DATASTORE_SYNC_H_
#define CTDUMP_DATASTORE_SYNC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "datastore/datastore.h"

namespace ctdump::datastore {

struct SyncOptions {
  // Containers to sync; empty: every container the source has backups of.
  std::vector<std::string> vmids;
  // Only the newest N snapshots of each container (PBS's transfer-last);
  // nullopt: all of them.
  std::optional<uint32_t> transfer_last;
  // Remove the target's snapshots of the synced containers that the source
  // no longer has (protected ones stay, with a warning). With `vmids` empty,
  // containers the target has and the source has not are synced containers
  // too (PBS's vanished groups).
  bool remove_vanished = false;
  // 0: max(cores, target IoDepth()).
  int threads = 0;
};

struct SyncReport {
  uint64_t containers = 0;  // containers synced
  uint64_t copied = 0;      // snapshots copied
  uint64_t skipped = 0;     // already on the target
  uint64_t removed = 0;     // vanished from the source, removed from the target
  uint64_t chunks_sent = 0;
  uint64_t chunks_present =
      0;                       // on the target already (found there, or sent for an earlier backup)
  uint64_t chunks_resent = 0;  // removed by a concurrent gc on the target, sent again
  uint64_t bytes_sent = 0;     // stored (blob) bytes of the chunks sent
  uint64_t logical_bytes = 0;  // plaintext bytes of the copied snapshots' streams
  std::vector<std::string> copied_snapshots;
  std::vector<std::string> removed_snapshots;
  std::vector<std::string> kept_protected;  // vanished but protected: not removed
  // "<volname or ct/<vmid>>: <why>" per snapshot or container that failed.
  std::vector<std::string> failures;
  double seconds = 0;
  bool ok() const { return failures.empty(); }
};

// Copies the selected snapshots of `source` to `target`, oldest first per
// container. Per-snapshot and per-container problems (a damaged chunk, a
// container whose backup lock is held on the target) are failures in the
// report, logged as errors; the run goes on with the others. The result is
// an error only for what stops the whole run: the source is no datastore,
// source and target are the same store, listing fails, or an interrupt
// (Cancelled). Progress: phase "sync" per snapshot (files: chunks looked
// at, of total_files; bytes: plaintext bytes of those chunks, of
// total_bytes; current: the volname).
Result<SyncReport> SyncStores(Datastore& source, Datastore& target, const SyncOptions& options,
                              Observer* observer);

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_SYNC_H_
