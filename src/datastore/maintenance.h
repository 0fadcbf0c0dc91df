// Datastore maintenance: verify and garbage collection.
//
// Verify re-reads and re-hashes every chunk (of the store, or of one
// snapshot) on all cores and checks every reference: manifests, indexes,
// chunks. It names each damaged or missing object and each snapshot that
// depends on one, among the snapshots that still exist when it reports
// (a snapshot deleted meanwhile, whose chunks gc may have removed, is no
// damage: its manifest is re-checked). The one change it makes: a damaged chunk is moved aside
// to "<chunk>.bad" (Datastore::QuarantineChunk), so that the next backup
// with its content stores it again and heals every snapshot that needs it.
//
// Verify state (PBS keeps it in the manifest's unprotected part; ours is
// immutable and signed, so it is an object of its own): after verify has
// checked a snapshot it records the outcome in
// "snapshots/ct/<vmid>/<time>/verify.json", plain JSON (never secret)
//   {"state": "ok" | "failed", "time": <unix s, the verify's start>,
//    "problems": <number of problems that concern the snapshot>}
// written with Put (atomic). A snapshot deleted while verify writes it loses
// the record again (and gc removes one left behind, as any object of a
// snapshot without manifest); a live snapshot's record is never touched by
// gc. A missing, unreadable or malformed record means "not verified".
// VerifyOptions::skip_verified_s skips snapshots whose last verify was ok
// and younger than that (PBS's ignore-verified + outdated-after; unlike PBS a
// failed one is always verified again). A verify that reads only some
// snapshots and finds a chunk damaged (moved aside) or missing reads the
// indexes of the others too, and reports and records "failed" every one that
// needs that chunk: skipped, it would stay "ok" while its restore fails.
//
// GC (see datastore.h for the locking table and why it is safe beside
// backups):
//   1. take locks/gc (one gc at a time); its backend mtime is gc's start
//   2. list running backups (locks/backup.*): the oldest start, and parents
//   3. mark every chunk of every manifest's indexes and of those parents
//   4. list running backups again and mark parents that appeared meanwhile
//   5. sweep: remove unmarked chunks whose mtime is older than gc's start
//      and every running backup's start (less a second for mtime rounding);
//      remove leftovers of killed backups (snapshot objects without a
//      manifest whose container has no running backup) likewise; remove
//      "<chunk>.bad" once the chunk is stored again or nothing references it;
//      remove the backend's temporaries of killed puts that are older than
//      the cutoff and an hour, and empty snapshot directories; with leases,
//      remove lock objects of dead holders (lease lapsed) older than the
//      cutoff
//   6. release locks/gc
// If anything in 2-4 cannot be read, gc removes nothing. The cutoff also
// subtracts the backend's clock skew (GcHorizon). With leases, gc renews
// its lease before 5 and checks it before every removal: a gc whose lease
// was lost (datastore.h) stops with an error and removes nothing more.
//
// The rules of 2-5 are the functions below (GcHorizon, ForEachReference,
// GcRemoves*): space accounting (usage.h) applies the same ones, so that what
// `ctdump df` calls reclaimable is what gc removes.
#ifndef CTDUMP_DATASTORE_MAINTENANCE_H_
#define CTDUMP_DATASTORE_MAINTENANCE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "datastore/datastore.h"

namespace ctdump::datastore {

struct VerifyReport {
  uint64_t snapshots = 0;
  uint64_t chunks = 0;
  uint64_t chunk_bytes = 0;       // plaintext bytes re-hashed
  uint64_t logical_bytes = 0;     // file bytes of the verified snapshots
  uint64_t other_key_chunks = 0;  // encrypted with another key: presence checked only
  std::vector<std::string> other_key_snapshots;
  std::vector<std::string> problems;           // one line per damaged/missing object
  std::vector<std::string> damaged_snapshots;  // volnames
  // Deleted while verify ran: their problems (and the chunks gc removed
  // after them) are not reported.
  uint64_t deleted_meanwhile = 0;
  // Verified ok within VerifyOptions::skip_verified_s: not read again.
  uint64_t skipped = 0;
  // Sealed under a configured key that could not be loaded (its file
  // missing, no passphrase): verified without it. Checked: manifest
  // (signature present, well-formed), indexes against the manifest, every
  // chunk present, chunk headers, sizes against the indexes, CRCs. Not
  // checked: the signature, the chunks' content. Damage found is a problem;
  // no "ok" verify state is recorded for them.
  std::vector<std::string> keyless_snapshots;
  std::string keyless_reason;               // why the key could not be loaded
  uint64_t keyless_chunks = 0;              // chunks checked without their key
  uint64_t keyless_chunks_without_crc = 0;  // of those: written before blobs had a CRC
  bool ok() const { return problems.empty(); }
};

struct VerifyOptions {
  // One snapshot; nullopt: every snapshot (of `vmid`).
  std::optional<std::string> volname;
  std::optional<std::string> vmid;  // only this container's snapshots
  int threads = 0;                  // 0: one per core
  // Skip snapshots whose verify state is "ok" and younger than this many
  // seconds; nullopt: verify every selected snapshot.
  std::optional<int64_t> skip_verified_s;
  int64_t now = 0;           // unix s of "now" (the states' age, the time recorded); 0: the clock
  bool record_state = true;  // write each verified snapshot's verify state
};

// Verify of every selected snapshot. Without `volname`, `vmid` and skipped
// snapshots every chunk of the store is read (unreferenced ones too);
// otherwise the chunks the verified snapshots reference.
Result<VerifyReport> Verify(Datastore& ds, const VerifyOptions& options, Observer* observer);

// What verify checked and skipped for its keyless_snapshots (one line); ""
// when there are none. Verify logs it as a warning.
std::string DescribeKeyless(const VerifyReport& r);

// `volname` nullopt: the whole store. `threads` 0: one per core. A `volname`
// that is not a volume name is InvalidArgument, one without a manifest
// NotFound ("does not exist"): neither is reported as damage.
Result<VerifyReport> Verify(Datastore& ds, const std::optional<std::string>& volname, int threads,
                            Observer* observer);

inline constexpr char kVerifyStateName[] = "verify.json";  // below a snapshot's prefix
inline constexpr uint64_t kMaxVerifyStateSize = 64 << 10;

struct VerifyState {
  bool ok = false;
  int64_t time = 0;  // unix s: the start of the verify that wrote it
  uint64_t problems = 0;
};

// The snapshot's verify state; nullopt when there is none or it cannot be
// read or parsed (verified again).
std::optional<VerifyState> ReadVerifyState(Datastore& ds, const std::string& volname);
// True if `state` is ok and younger than `max_age_s` at `now`.
bool RecentlyVerified(const std::optional<VerifyState>& state, int64_t now, int64_t max_age_s);

struct GcReport {
  uint64_t chunks = 0;   // chunk objects seen
  uint64_t marked = 0;   // referenced
  uint64_t removed = 0;  // removed (or would be, dry run)
  uint64_t removed_bytes = 0;
  uint64_t kept_recent = 0;  // unreferenced but too recent to remove
  uint64_t leftovers_removed = 0;
  uint64_t bad_removed = 0;    // damaged copies verify had moved aside ("<chunk>.bad")
  uint64_t temps_removed = 0;  // temporaries of killed puts, older than an hour (not in a dry run)
  uint64_t dirs_removed = 0;   // empty snapshot directories (not in a dry run)
  // Lock objects of dead holders whose lease lapsed (backends with leases;
  // not in a dry run).
  uint64_t lapsed_locks_removed = 0;
};

// Progress (Observer::OnProgress): phase "gc-mark" (files: backups whose
// indexes are marked, of total_files), then "gc-sweep" (files: chunk objects
// looked at, of total_files; bytes: bytes removed so far). Verify reports
// phase "verify" (files: chunks read, of total_files; bytes: plaintext bytes
// re-hashed). At most every half second, and once at the end of each phase.
Result<GcReport> CollectGarbage(Datastore& ds, bool dry_run, Observer* observer);

// --- gc's mark and sweep rules (CollectGarbage and ComputeUsage) ---

// The chunk id in a chunk object's name ("chunks/<4 hex>/<64 hex>"), if it is one.
std::optional<Digest> ChunkIdOfObject(std::string_view name);
// The chunk id of a copy verify moved aside ("<chunk>.bad"), if `name` is one.
std::optional<Digest> BadChunkIdOfObject(std::string_view name);
// The volname of a snapshot object "snapshots/ct/<vmid>/<time>/<file>".
std::string SnapshotOfObject(const std::string& name);

// What bounds gc's sweep: its start and the running backups'.
struct GcHorizon {
  int64_t oldest_start_ns = 0;       // gc's start, or a running backup's if older
  std::set<std::string> busy_vmids;  // containers with a running backup
  // ObjectBackend::ClockSkewNs of the store: how far apart the clocks that
  // stamped the mtimes (and the starts above) may be.
  int64_t clock_skew_ns = 0;
  // What is older than this is old enough to remove: less a second (mtimes
  // may be rounded to the second) and less the clock skew (on RADOS each
  // writing host's clock stamps its writes: a chunk a backup wrote after
  // gc's start may carry an mtime up to the skew before it).
  int64_t cutoff_ns() const { return oldest_start_ns - 1'000'000'000 - clock_skew_ns; }
};

// The horizon of a gc (or a usage estimate) that starts at `start_ns` on
// `ds`: its clock skew set, no running backup added yet.
GcHorizon MakeGcHorizon(Datastore& ds, int64_t start_ns);

// Adds the running backups (locks/backup.*) to `h`, calling `running` (if
// set) for each (gc marks its parent; an error is returned as is). With
// leases, lock objects whose lease has lapsed (a dead host's) are no running
// backup: they go to `lapsed` if given.
Status AddRunningBackups(Datastore& ds, GcHorizon& h,
                         const std::function<Status(const LockInfo&)>& running = {},
                         std::vector<LockInfo>* lapsed = nullptr);

// The chunks a snapshot references, as gc marks them: both indexes, pinned
// by its `manifest`, or read unpinned when it is nullptr (a manifest under
// another key). The first error is returned (the entries of an index read
// before it have been passed to `fn`).
Status ForEachReference(Datastore& ds, const std::string& volname, const Manifest* manifest,
                        const std::function<void(const IndexEntry&)>& fn);

// Whether gc removes an unreferenced chunk last modified at `mtime_ns`.
inline bool GcRemovesUnreferencedChunk(const GcHorizon& h, int64_t mtime_ns) {
  return mtime_ns < h.cutoff_ns();
}
// Whether gc removes a "<chunk>.bad" copy: it is kept only while some
// snapshot references the chunk and the chunk is not stored again.
inline bool GcRemovesBadCopy(bool referenced, bool chunk_stored) {
  return !referenced || chunk_stored;
}
// Whether gc removes an object of snapshot `volname`, which has no manifest
// (a killed backup's leftover), last modified at `mtime_ns`: not while its
// container has a running backup, nor when it is too recent.
bool GcRemovesLeftover(const GcHorizon& h, const std::string& volname, int64_t mtime_ns);

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_MAINTENANCE_H_
