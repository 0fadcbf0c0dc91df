// The deduplicating datastore: a layout of objects on an ObjectBackend.
//
//   config                                   store format and chunker params (JSON)
//   chunks/<hex[0:4]>/<hex>                  chunk blobs, named by chunk id
//   chunks/<hex[0:4]>/<hex>.bad              a chunk verify found damaged (quarantine)
//   snapshots/ct/<vmid>/<time>/meta.didx     index blob of the metadata stream
//   snapshots/ct/<vmid>/<time>/data.didx     index blob of the data stream
//   snapshots/ct/<vmid>/<time>/manifest      manifest blob, written LAST
//   snapshots/ct/<vmid>/<time>/task.log      text blob (after the manifest)
//   snapshots/ct/<vmid>/<time>/verify.json   verify state (maintenance.h), mutable
//   snapshots/ct/<vmid>/<time>/notes         text blob, mutable
//   snapshots/ct/<vmid>/<time>/protected     empty; present = protected
//   locks/backup.<vmid>                      a running backup (JSON)
//   locks/gc                                 a running gc (JSON)
//
// <time> is the backup's start in UTC, "2026-11-26T08_22_59Z"; the volume
// name of a snapshot is "ct/<vmid>/<time>". A snapshot exists exactly when
// its manifest exists: everything else a killed backup leaves is invisible
// and removed by the next gc.
//
// Locking, operation by operation. A lock is an object naming host and pid
// (locks/backup.<vmid>, locks/gc). How a lock left behind by a dead process
// is told from a live one depends on the backend:
//   - without leases (a local directory: one host): the lock object is
//     created with PutIfAbsent; one left by a dead process on this host is
//     taken over with a warning; one of another host is never stale.
//   - with leases (ObjectBackend::HasLeases; RADOS, many hosts): the lock is
//     first the exclusive lease of the lock's name (cls_lock), for a cookie
//     unique to its holder (host, pid, random), then the object is Put
//     (replacing one a dead host left: its lease expired). The holder's
//     LeaseKeeper (lease_keeper.h) renews the lease every lock-lease/3 s.
//     A lock object whose lease is not held is a dead holder's: ListLocks
//     ignores it, TakeLock replaces it, gc removes it once it is older than
//     its cutoff (under the lease, so never a live one). A holder that
//     cannot renew in time (two thirds of the lease) has lost its lock, and
//     everything it does afterwards that relies on the lock fails: a backup
//     does not publish its manifest (the writer renews once more right
//     before and checks there was no gap), gc deletes nothing more.
//
//               backup(other ct)  backup(same ct)  gc          delete/prune  verify/restore
//   backup      concurrent        exclusive        concurrent  (1)           concurrent
//   gc                            concurrent       exclusive   concurrent    concurrent (2)
//   delete                                                     concurrent    (3)
//
// (1) deleting the parent snapshot of a running backup is refused; any
//     other snapshot may go.
// (2) gc never removes a chunk a manifest references.
// (3) a snapshot deleted under a reader makes the reader fail with NotFound;
//     verify re-checks that a snapshot with a problem still exists before it
//     reports it (so the chunks gc removes after a delete are no damage).
// Every cell holds for operations on different hosts of one RADOS pool as
// for processes on one host.
//
// Why gc is safe beside backups (maintenance.cc has the details): gc marks every
// chunk referenced by a manifest and by the parent of every running backup,
// and sweeps only unmarked chunks whose mtime is older than both its own
// start and the start of every running backup, less a second (mtime
// rounding) and less the backend's ClockSkewNs (RADOS: mtimes are stamped by
// each writing client's clock; storage.cfg max-clock-skew). A backup relies
// on a chunk in one of three
// ways: it wrote it (mtime after its start), it found it in its parent
// (marked), or it found it stored already and touched it; for the last, a
// gc that was already sweeping may have decided to delete it before the
// touch, so the backup re-checks those chunks after any such gc has ended
// and fails (publishing nothing) if one is gone.
// With many hosts, leases make "running" mean the same for everyone: a live
// backup's lease is held, hence visible to gc on every host, from before its
// lock object is written until after the object is deleted, for the whole
// backup; gc's own lease is what a backup waits on before its re-check. A
// backup whose lease lapsed (its host hung, lost the cluster) may have been
// invisible to a gc meanwhile: it publishes nothing, so nothing published
// relies on a chunk that gc removed. A gc whose lease lapsed may have been
// taken for ended by a backup's re-check: it deletes nothing more. A host
// that dies holding a lock blocks nobody beyond lock-lease seconds.
//
// Healing (as PBS): verify moves a damaged chunk out of the way, to
// "<chunk>.bad", so the chunk is missing: the next backup that has its
// content stores it again (put-if-absent no longer finds the damaged copy),
// and a backup does not take unchanged files from a parent whose chunks are
// not all present (LoadParent). Every snapshot that references the chunk is
// whole again once it is stored anew. gc removes a ".bad" once the chunk is
// stored again or no snapshot references it. A reader that finds a chunk
// missing and its ".bad" present says so (and reads the chunk again: a backup
// may have stored it meanwhile).
#ifndef CTDUMP_DATASTORE_DATASTORE_H_
#define CTDUMP_DATASTORE_DATASTORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crypt/crypt.h"
#include "ctdump/chunker.h"
#include "ctdump/object_backend.h"
#include "ctdump/observer.h"
#include "datastore/codec.h"
#include "datastore/key_ring.h"

namespace ctdump::datastore {

struct VolumeName {
  std::string vmid;
  int64_t time = 0;  // unix seconds
};

// "ct/<vmid>/2026-11-26T08_22_59Z" for `time` in UTC.
std::string FormatVolume(const std::string& vmid, int64_t time);
// The inverse; InvalidArgument naming `volname` for anything else.
Result<VolumeName> ParseVolume(const std::string& volname);

std::string ChunkObjectName(const Digest& d);
// Where verify puts a damaged chunk: ChunkObjectName(d) + ".bad".
std::string BadChunkObjectName(const Digest& d);
inline constexpr char kBadChunkSuffix[] = ".bad";
std::string SnapshotPrefix(const std::string& volname);  // "snapshots/<volname>/"

struct SnapshotInfo {
  std::string volname;
  VolumeName name;
  // Why the backup cannot be read with the configured keys (encrypted with
  // another key, or none configured). `manifest` may still hold its public
  // part (manifest_read).
  std::optional<std::string> unreadable;
  // `manifest` holds the manifest's public part (version 2: always; a
  // version 1 manifest only with its key). Its configs only if `sensitive`.
  bool manifest_read = false;
  Manifest manifest;
  std::optional<std::string> notes;
  bool is_protected = false;
};

struct LockInfo {
  std::string object;  // "locks/backup.<vmid>"
  std::string host;
  int64_t pid = 0;
  std::string cookie;                 // of its lease (backends with leases), "" otherwise
  std::optional<std::string> parent;  // volname (backup locks)
  int64_t mtime_ns = 0;               // backend time of taking it
};

class LeaseKeeper;

// storage.cfg lock-lease: how long a lock's lease lasts unless renewed.
inline constexpr int kDefaultLockLeaseS = 60;
// storage.cfg compact-level: zstd's own default level.
inline constexpr int kDefaultCompactLevel = 3;
inline constexpr int kMinLockLeaseS = 5;

class Datastore {
 public:
  ~Datastore();

  // Opens the store on `backend`. `keys` (key_ring.h; empty: none) hold the
  // key that encrypts new snapshots and those that decrypt older ones; they
  // are loaded only when a read or write needs them. `name` names the store in
  // messages ("datastore 'x'"). A backend without a config is a datastore
  // only while it is empty (ObjectBackend::IsEmpty): then its config is
  // written at once if `create_if_empty`, else at the first write
  // (EnsureCreated; readers such as list and verify write nothing). A
  // backend that holds anything else is FailedPrecondition saying so and
  // how to create a datastore: nothing is ever written into it.
  static Result<std::unique_ptr<Datastore>> Open(std::unique_ptr<ObjectBackend> backend,
                                                 KeyRing keys, std::string name,
                                                 bool create_if_empty = true);
  // `ctdump datastore create`: writes the config into an empty backend.
  // AlreadyExists if it is a datastore already, FailedPrecondition if it
  // holds anything else.
  static Result<std::unique_ptr<Datastore>> Create(std::unique_ptr<ObjectBackend> backend,
                                                   std::string name);
  // Writes the config of a store opened empty (before a backup's first
  // write); another process may have created it meanwhile.
  Status EnsureCreated();
  // False for a store opened empty and not written to yet.
  bool exists() const { return exists_; }

  ObjectBackend& backend() { return *backend_; }
  KeyRing& keys() { return keys_; }
  // The key for new snapshots (loading it), nullptr for a plain store.
  Result<const crypt::Key*> CurrentKey() { return keys_.Current(); }
  const ChunkerParams& chunker_params() const { return chunker_; }
  const std::string& name() const { return name_; }

  // Snapshots (those with a manifest), oldest first; `vmid` filters. Reads
  // the manifests' public parts (ReadManifestPublic) and loads no key that
  // needs a passphrase (notes are read only with a key at hand). Snapshots
  // encrypted with another key (or with a key while none is configured) are
  // listed with `unreadable` set; damaged ones are skipped with a warning.
  Result<std::vector<SnapshotInfo>> ListSnapshots(const std::optional<std::string>& vmid,
                                                  Observer* observer);
  // The manifest, whole: a sealed one's signature checked and its configs
  // decrypted with the key of its fingerprint (loaded if need be). Refuses
  // (PermissionDenied) an unsigned manifest (a version 1 one not encrypted)
  // when the store has a key for new backups.
  Result<Manifest> ReadManifest(const std::string& volname);
  // Its public part without any key (version 2; `sensitive` false under a
  // key, the signature's presence and form checked, not its value). A
  // version 1 manifest is encrypted under a key: read with it, as before.
  Result<Manifest> ReadManifestPublic(const std::string& volname);
  // Decodes a blob (DecodeBlob) with the key its header names, from the
  // ring; key errors as KeyRing::Require. `may_prompt` false: no key that
  // needs a passphrase is loaded.
  Result<std::string> Decode(std::string_view blob, BlobType type, const Digest* expected,
                             const std::string& what, bool may_prompt = true);
  // The index `file` ("meta.didx"/"data.didx") of a snapshot, checked
  // against the manifest's digest.
  Result<std::vector<IndexEntry>> ReadIndex(const std::string& volname, const Manifest& m,
                                            const std::string& file);
  // The index `file` of a snapshot read without its manifest (whose key may
  // be unavailable): checked as a blob, not against the manifest. For gc and
  // verify only.
  Result<std::vector<IndexEntry>> ReadIndexUnpinned(const std::string& volname,
                                                    const std::string& file);
  // A chunk's plaintext, checked against its id. A missing chunk that verify
  // moved aside (BadChunkObjectName) is DataLoss saying so.
  Result<std::string> ReadChunk(const Digest& d);
  // Moves the damaged chunk `d` aside to BadChunkObjectName(d) so that the
  // next backup with its content stores it again. `damaged` is the blob as
  // read; the chunk is removed only while it still holds exactly these bytes
  // (a good copy a backup stored meanwhile, or a read that was damaged only
  // on its way, stays). True if the chunk is gone now, false if it stayed.
  Result<bool> QuarantineChunk(const Digest& d, const std::string& damaged);

  Result<std::optional<std::string>> ReadNotes(const std::string& volname);
  Status WriteNotes(const std::string& volname, const std::string& notes);
  Result<bool> IsProtected(const std::string& volname);
  Status SetProtected(const std::string& volname, bool on);

  // Removes a snapshot: manifest first (it is gone for every reader at
  // once), then the rest. Refused for a protected snapshot, and for the
  // parent of a running backup.
  Status DeleteSnapshot(const std::string& volname);

  // The object `name`, read only if it is a regular file of at most
  // `max_size` bytes (a FIFO, device or symlink in its place, or a larger
  // file, is DataLoss naming it: never a hang or a huge allocation).
  Result<std::string> Fetch(const std::string& name, uint64_t max_size = kMaxBlobSize);

  // Locks (see the table above). TakeLock fails with Unavailable naming the
  // holder when the lock is held by a live process or another host (with
  // leases: by anyone whose lease has not expired).
  Result<LockInfo> TakeLock(const std::string& object, const std::optional<std::string>& parent,
                            Observer* observer);
  // Gives up a lock this store took: the object, then its lease. A lock
  // whose lease was lost is deleted only if nobody took it meanwhile.
  Status ReleaseLock(const std::string& object);
  // The locks below `prefix` that are held. With leases, lock objects whose
  // lease nobody holds (a dead holder's) are left out, and added to
  // `lapsed` if given. Errors other than a lock released meanwhile are
  // returned (gc must not take an unreadable lock for none).
  Result<std::vector<LockInfo>> ListLocks(const std::string& prefix,
                                          std::vector<LockInfo>* lapsed = nullptr);
  // OK while this store holds `object` (taken with TakeLock, its lease held
  // without a gap); FailedPrecondition saying why not. Without leases: OK.
  Status CheckLock(const std::string& object);
  // CheckLock after renewing the lease now (the last step before relying
  // on the lock: a backup publishing its manifest).
  Status RenewLock(const std::string& object);
  // Whether anyone holds `object`: its lease (with leases) or the object.
  Result<bool> LockHeld(const std::string& object);
  // With leases: removes the lock object `object` of a dead holder (its
  // lease not held) if its mtime is older than `older_than_ns`, holding its
  // lease meanwhile so that no new holder's object is removed. True if
  // removed. Without leases: false.
  Result<bool> RemoveLapsedLock(const std::string& object, int64_t older_than_ns);
  // Threads for work that waits on the backend (the writer's chunk pool,
  // verify's reads, the reader's read-ahead): `requested` if > 0, else
  // max(cores, backend().IoDepth()). Callers bound memory by that many
  // chunks in flight.
  int IoThreads(int requested = 0) const;
  // The lease of locks taken from now on (storage.cfg lock-lease), seconds.
  void set_lock_lease_s(int seconds) { lock_lease_s_ = seconds; }
  int lock_lease_s() const { return lock_lease_s_; }
  // How backups compress chunks (storage.cfg compression; default LZ4) and
  // the zstd level `ctdump compact` recompresses them to (compact-level).
  void set_backup_compression(Compression c) { backup_compression_ = c; }
  Compression backup_compression() const { return backup_compression_; }
  void set_compact_level(int level) { compact_level_ = level; }
  int compact_level() const { return compact_level_; }
  // Renewals the lease keeper made so far (tests).
  uint64_t lease_renewals();

 private:
  Datastore() = default;
  Result<std::string> GetText(const std::string& object, bool may_prompt = true);
  Result<Manifest> ReadManifest(const std::string& volname, bool whole, bool may_prompt);
  Status CheckEmpty();
  Status LoadConfig(const std::string& text);
  Result<LockInfo> TakeLeasedLock(const std::string& object, const std::string& text,
                                  const std::string& cookie, Observer* observer);
  LeaseKeeper& keeper();

  std::unique_ptr<ObjectBackend> backend_;
  KeyRing keys_;
  std::string name_;
  ChunkerParams chunker_;
  bool exists_ = false;  // the config is there
  int lock_lease_s_ = kDefaultLockLeaseS;
  Compression backup_compression_ = Compression::kLz4;
  int compact_level_ = kDefaultCompactLevel;
  std::mutex keeper_mu_;  // guards the creation of keeper_
  // Created with the first lease; destroyed (its thread joined) before
  // backend_, which it renews through.
  std::unique_ptr<LeaseKeeper> keeper_;
};

std::string BackupLockName(const std::string& vmid);  // "locks/backup.<vmid>"
// True for the errors of reading a blob without its key, or with another.
bool IsKeyError(const Status& s);
// "aa:bb:cc:dd:ee:ff:00:11" (either case) as a fingerprint.
std::optional<crypt::Fingerprint> ParseFingerprint(std::string_view text);
inline constexpr char kGcLockName[] = "locks/gc";

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_DATASTORE_H_
