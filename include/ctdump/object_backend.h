// The object backend: everything the datastore keeps (chunks, indexes,
// manifests, locks) is a named object behind this small interface, so the
// store runs unchanged on a local directory and on Ceph RADOS.
//
// Object semantics, not file semantics: there is no rename, no append, no
// atime and no real directories. Publishing is PutIfAbsent (a chunk insert is
// idempotent; a manifest or lock that must not be overwritten is created
// exclusively), mutable small objects use Put, and GC marks by content and
// sweeps by Stat().mtime_ns, never by atime.
//
// How each call maps onto the two backends:
//
//   call          local directory                     RADOS (objstore/rados_backend.h)
//   PutIfAbsent   temp + fsync + renameat2(NOREPLACE)  create(exclusive)+write_full, one op;
//                 + fsync dir; EEXIST -> false         -EEXIST -> false
//                 (kDeferred: no fsyncs)
//   Sync          syncfs(root)                         nothing (acked writes are durable)
//   Touch         utimensat(now)                       setxattr with assert_exists (a write
//                                                      op: the OSD sets the mtime)
//   Put           temp + fsync + rename + fsync dir    write_full (atomic per object)
//   Get           read                                 one op: stat + read
//   Stat          fstatat                              stat (size, mtime)
//   List          recursive readdir, filter, sort      "chunks/": namespace listing, filter,
//                                                      sort; other names: the omap of the
//                                                      index object "#index" (sorted)
//   Delete        unlink                               remove, then the index entry;
//                                                      -ENOENT -> NotFound
//   RemoveLeft-   old "~tmp." files, empty directories  index entries whose object a crash
//   overs                                              never wrote; unindexed objects indexed
//   Leases        none (locks name host and pid)       cls_lock on "#leases", OSD clock
//
// A third backend keeps the objects in memory (objstore/memory_backend.h),
// with no temporaries and no directories as on RADOS, for tests of everything
// above the interface; objstore/fault_backend.h wraps any backend to fail,
// damage or delay chosen calls.
//
// Only objects are read: a backend refuses anything else found under an
// object's name (a local FIFO, device or symlink: FailedPrecondition naming
// it) without blocking on it.
//
// Names are keys, not paths: '/'-separated components of [A-Za-z0-9._-], each
// 1..200 bytes, not "." or "..", at most 1024 bytes in all. The restricted
// alphabet leaves room for backends to keep private files (temps) under names
// no valid object can take. A name may not be both an object and a "directory"
// of others ("a" and "a/b"): the caller's layout avoids it; backends report a
// conflict as FailedPrecondition rather than corrupt either.
//
// Thread-safety: every method is safe for concurrent use by several threads
// and several processes on the same store.
#ifndef CTDUMP_OBJECT_BACKEND_H_
#define CTDUMP_OBJECT_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump {

inline constexpr size_t kMaxObjectNameLength = 1024;
inline constexpr size_t kMaxObjectNameComponentLength = 200;
inline constexpr uint64_t kUnboundedObjectSize = UINT64_MAX;

// When a put is durable: before it returns (kSync), or after the next Sync()
// (kDeferred: a backup writes thousands of chunks and syncs once before it
// publishes the manifest that references them, as PBS does).
enum class Durability { kSync, kDeferred };

struct ObjectStat {
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // last write, nanoseconds since the epoch
};

// What RemoveLeftovers removed.
struct LeftoverCount {
  uint64_t temps = 0;  // temporaries of puts that never finished
  uint64_t dirs = 0;   // empty directories
};

class ObjectBackend {
 public:
  virtual ~ObjectBackend() = default;

  // A short human-readable identity for messages, e.g. "local:/srv/store".
  virtual std::string Describe() const = 0;

  // Stores `data` under `name` unless an object of that name exists. Returns
  // true if this call wrote it, false if it already existed (the existing
  // content is left untouched). Of several concurrent callers exactly one gets
  // true. Atomic and durable on success: readers see all of the object or
  // none of it; a crash leaves at worst an invisible temporary.
  // With kDeferred the object is visible at once but durable only after the
  // next Sync().
  virtual Result<bool> PutIfAbsent(const std::string& name, std::string_view data,
                                   Durability durability = Durability::kSync) = 0;

  // Makes every put of this backend object durable (local: syncfs; RADOS:
  // nothing, writes are durable when acknowledged).
  virtual Status Sync() = 0;

  // Sets the object's mtime to now without changing its content (local:
  // utimensat; RADOS: a zero-length write). A backup touches a chunk it
  // dedups against, so GC's sweep by mtime never removes a chunk a running
  // backup relies on. NotFound naming the object if it does not exist.
  virtual Status Touch(const std::string& name) = 0;

  // Creates or replaces `name` atomically (readers see the old or the new
  // content, never a mix). For small mutable objects such as locks and indexes.
  virtual Status Put(const std::string& name, std::string_view data) = 0;

  // The whole content; NotFound naming the object if it does not exist,
  // DataLoss naming it and the limit if it is larger than `max_size` (read
  // no further: a caller bounds what it reads by its format's limits).
  virtual Result<std::string> Get(const std::string& name,
                                  uint64_t max_size = kUnboundedObjectSize) = 0;

  // Size and mtime; NotFound naming the object if it does not exist.
  virtual Result<ObjectStat> Stat(const std::string& name) = 0;

  // Full names of the objects that start with `prefix` (plain string prefix),
  // sorted bytewise. "a/" lists everything below "a" recursively; "" lists
  // all. A prefix nothing matches gives an empty list. Never lists a
  // backend's temporaries. The part of `prefix` before its last '/' must be a
  // valid name, the rest valid name characters (InvalidArgument otherwise).
  virtual Result<std::vector<std::string>> List(const std::string& prefix) = 0;

  // Removes `name`; NotFound naming the object if it does not exist.
  virtual Status Delete(const std::string& name) = 0;

  // True if the store holds nothing at all: no object, and (local) no file
  // or directory of any name but "lost+found" and the backend's own temps
  // (an object another writer is publishing). A datastore is created only
  // in an empty store, never among someone else's files.
  virtual Result<bool> IsEmpty() {
    auto all = List("");
    if (!all.ok()) return all.status();
    return all->empty();
  }

  // Removes what writers killed in the middle of a put leave below `prefix`
  // ("" or a valid name followed by '/'): the backend's temporaries last
  // written before `temps_older_than_ns` (backend time), and, if
  // `empty_dirs`, directories that hold nothing (never `prefix` itself).
  // Safe beside concurrent puts: a put whose directory is removed under it
  // creates it again. Backends without temporaries or directories remove
  // nothing.
  virtual Result<LeftoverCount> RemoveLeftovers(const std::string& prefix,
                                                int64_t temps_older_than_ns, bool empty_dirs) {
    return LeftoverCount{};
  }

  // --- What callers above need to know to use a backend well and safely ---

  // How many operations a caller should keep in flight to use this backend
  // well: 0 for no preference beyond the cores (a local directory), RADOS its
  // configured queue depth (each op is a network round trip). The chunk
  // pool, verify and restore's read-ahead use max(cores, IoDepth()) threads;
  // memory stays bounded by that many chunks.
  virtual int IoDepth() const { return 0; }

  // How far apart the clocks that set this backend's mtimes may be, in ns:
  // 0 for one clock (a local directory: the kernel's), RADOS the configured
  // max-clock-skew (librados stamps a write with its client's clock, so
  // mtimes written by different hosts come from different clocks). gc
  // subtracts it from its cutoff.
  virtual int64_t ClockSkewNs() const { return 0; }

  // --- Leases: locks that expire unless renewed (RADOS: cls_lock) ---
  //
  // With leases the datastore tells a lock held by a live process on another
  // host from one a dead host left behind: the holder renews its lease, and
  // once the lease has expired (the backend's clock, not the holder's) the
  // lock is free. Lease names are valid object names (ValidateObjectName);
  // they live beside the objects, not among them: a lease is no object, and
  // List never shows one. A backend without leases (local: one host; locks
  // name host and pid) returns false from HasLeases and Unavailable from
  // the others.
  virtual bool HasLeases() const { return false; }
  // Takes the exclusive lease `name` for `cookie` for `duration_s` seconds
  // (`renew`: extends the one `cookie` holds). true: `cookie` holds it now;
  // false: another cookie's lease has not expired (or, `renew`, `cookie`
  // does not hold it any more: it expired and may have been taken).
  virtual Result<bool> AcquireLease(const std::string& name, const std::string& cookie,
                                    int duration_s, bool renew) {
    return UnavailableError(Describe() + " has no leases");
  }
  // Gives up `cookie`'s lease `name`; OK if it does not hold it.
  virtual Status ReleaseLease(const std::string& name, const std::string& cookie) {
    return UnavailableError(Describe() + " has no leases");
  }
  // Whether anyone holds an unexpired lease `name`.
  virtual Result<bool> LeaseHeld(const std::string& name) {
    return UnavailableError(Describe() + " has no leases");
  }
};

// OK, or InvalidArgument naming `name` and saying what is wrong with it. Every
// backend method validates its name with this before touching storage.
Status ValidateObjectName(std::string_view name);

}  // namespace ctdump

#endif  // CTDUMP_OBJECT_BACKEND_H_
