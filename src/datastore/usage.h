// Space accounting of a datastore (`ctdump list --sizes`, `ctdump df`, and
// what `delete`/`prune` report a gc would free).
//
// One pass, like gc's mark phase but read-only and taking no lock, with gc's
// own rules (maintenance.h: GcHorizon, ForEachReference, GcRemoves*): every
// object of the store is listed and stat'ed (sizes as stored: compressed,
// encrypted), and both indexes of every snapshot are read. Per snapshot, over
// the distinct chunks its indexes reference:
//   stored  bytes of all those chunks
//   unique  bytes of those chunks no other snapshot references (what a gc
//           would free after deleting only this snapshot)
// A chunk referenced by several snapshots of one container counts toward
// that container's unique bytes but no snapshot's.
//
// "Reclaimable" is what a gc started now would remove: unreferenced chunks
// older than both now and every running backup's start (less a second, as
// gc), leftovers of killed backups (snapshot objects without a manifest of a
// container without a running backup), and ".bad" copies gc would drop; 0
// while a backup's indexes cannot be read (gc then removes nothing). An
// unreferenced chunk written since (a running backup's) is counted in
// `unreferenced_recent_bytes` instead. Concurrent backups, deletes and gcs
// make the numbers a moment's picture, never wrong by more than what changed.
#ifndef CTDUMP_DATASTORE_USAGE_H_
#define CTDUMP_DATASTORE_USAGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "datastore/datastore.h"

namespace ctdump::datastore {

struct SnapshotUsage {
  std::string volname;
  std::string vmid;
  int64_t time = 0;
  uint64_t logical = 0;         // file bytes (the manifest's "bytes"; 0 when unreadable)
  uint64_t chunks = 0;          // distinct chunks referenced
  uint64_t stored = 0;          // their bytes as stored
  uint64_t unique = 0;          // bytes of the chunks only this snapshot references
  uint64_t missing_chunks = 0;  // referenced but not in the store (counted as 0 bytes)
};

struct ContainerUsage {
  std::string vmid;
  uint64_t backups = 0;
  uint64_t logical = 0;  // sum over its snapshots
  uint64_t stored = 0;   // bytes of the distinct chunks its snapshots reference
  uint64_t unique = 0;   // ... that no other container's snapshot references
};

struct StoreUsage {
  uint64_t total_bytes = 0;  // every object: chunks, indexes, manifests, logs, config, locks
  uint64_t objects = 0;
  uint64_t chunk_bytes = 0;  // every chunk object ("<chunk>.bad" copies included)
  uint64_t chunks = 0;
  uint64_t referenced_bytes = 0;  // chunks some snapshot references
  uint64_t referenced_chunks = 0;
  uint64_t reclaimable_bytes = 0;  // what a gc now would remove (see above)
  uint64_t reclaimable_chunks = 0;
  uint64_t leftover_bytes = 0;             // part of reclaimable: objects of killed backups
  uint64_t unreferenced_recent_bytes = 0;  // unreferenced, too recent for gc now
  uint64_t logical_bytes = 0;              // sum of the snapshots' logical sizes
  uint64_t missing_chunks = 0;             // referenced, not stored (verify says more)
  // Backups whose manifest is there but whose indexes cannot be read: gc
  // removes nothing then (reclaimable is 0); verify names the damage.
  std::vector<std::string> unreadable_snapshots;
  // logical_bytes / referenced_bytes (PBS's deduplication factor); 0 when
  // nothing is referenced.
  double dedup_factor() const {
    return referenced_bytes ? double(logical_bytes) / double(referenced_bytes) : 0.0;
  }
  std::vector<SnapshotUsage> snapshots;    // oldest first per container, as ListSnapshots
  std::vector<ContainerUsage> containers;  // by vmid
};

// The usage of the store (`vmid`: only that container's snapshots and
// container are listed; the store-wide numbers always cover every snapshot,
// as unique sizes must). `now_ns` 0: the clock. Snapshots under another key
// are read without their manifest (logical 0), as gc reads them. A snapshot
// deleted during the pass is left out; any other read error fails.
Result<StoreUsage> ComputeUsage(Datastore& ds, const std::optional<std::string>& vmid,
                                Observer* observer, int64_t now_ns = 0);

// What `delete` and `prune` say after removing snapshots of datastore
// `storage`, from a usage taken afterwards: "<bytes> (<n> chunks) no longer
// referenced by any backup; run 'ctdump gc <storage>' to free it", and the
// part a gc now would keep because it is too recent.
std::string DescribeUnreferenced(const StoreUsage& after, const std::string& storage);

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_USAGE_H_
