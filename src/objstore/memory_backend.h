// The in-memory object backend: objects in a sorted map, for unit tests of
// everything above the backend (the datastore, its gc and verify) and as the
// model of a backend without files or directories (RADOS).
//
// Semantics are those of ObjectBackend (include/ctdump/object_backend.h) and
// its conformance suite, with what a local directory adds left out: there are
// no temporaries and no directories (RemoveLeftovers removes nothing,
// IsEmpty is "no object"), so a name becomes free again as soon as the
// objects below it are deleted. A name that is both an object and a prefix
// of others ("a" and "a/b" at the same time) is refused with
// FailedPrecondition, as the local backend does.
//
// Durability is modelled: a kDeferred put is visible at once but remembered
// as not durable until the next Sync(); DropUnsynced() then loses exactly
// what a crash would lose (deferred puts never synced), so tests can check
// that nothing published depends on an object that was not synced.
//
// Several backends can share one store (Share()): like two processes that
// open the same directory, each with its own Describe() but the same objects.
//
// mtimes come from MemoryBackendOptions::clock_ns, so gc tests can age
// objects without sleeping.
//
// Leases (MemoryBackendOptions::leases; off by default, as on a local
// directory) model RADOS's cls_lock: an exclusive lease per name, held by a
// cookie until its expiry on the same clock as the mtimes, so tests make a
// lease lapse by moving the clock. They live in the shared store beside the
// objects (Share()d backends see the same leases), never among them.
// IoDepth() and ClockSkewNs() return what the options say, so the layers
// above can be tested with the values of a RADOS backend.
//
// Thread-safety: every method is safe for concurrent use; the shared store
// holds one mutex (see memory_backend.cc).
#ifndef CTDUMP_OBJSTORE_MEMORY_BACKEND_H_
#define CTDUMP_OBJSTORE_MEMORY_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/object_backend.h"

namespace ctdump::objstore {

struct MemoryBackendOptions {
  // Describe() gives "memory:<label>".
  std::string label = "store";
  // The backend's clock, nanoseconds since the epoch; empty: the system's
  // real-time clock. Called under the store's lock: it must not call back
  // into the backend.
  std::function<int64_t()> clock_ns;
  // HasLeases() and working leases (AcquireLease, ReleaseLease, LeaseHeld);
  // false: Unavailable, as the interface's default (a local directory).
  bool leases = false;
  // What IoDepth() and ClockSkewNs() return (0: as a local directory).
  int io_depth = 0;
  int64_t clock_skew_ns = 0;
};

class MemoryBackend final : public ObjectBackend {
 public:
  // A new, empty store.
  explicit MemoryBackend(MemoryBackendOptions options = {});
  ~MemoryBackend() override;

  // Another backend on the same objects (same clock), described as
  // "memory:<label>". It may outlive this one.
  std::unique_ptr<MemoryBackend> Share(std::string label) const;

  std::string Describe() const override;
  Result<bool> PutIfAbsent(const std::string& name, std::string_view data,
                           Durability durability = Durability::kSync) override;
  Status Sync() override;
  Status Touch(const std::string& name) override;
  Status Put(const std::string& name, std::string_view data) override;
  Result<std::string> Get(const std::string& name,
                          uint64_t max_size = kUnboundedObjectSize) override;
  Result<ObjectStat> Stat(const std::string& name) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;
  Status Delete(const std::string& name) override;
  Result<bool> IsEmpty() override;
  // Nothing to remove (no temporaries, no directories); `prefix` is
  // validated as the interface says.
  Result<LeftoverCount> RemoveLeftovers(const std::string& prefix, int64_t temps_older_than_ns,
                                        bool empty_dirs) override;
  int IoDepth() const override;
  int64_t ClockSkewNs() const override;
  bool HasLeases() const override;
  // A lease expires at the clock's now + duration_s; an expired one is free
  // (and cannot be renewed). Re-acquiring one's own lease without `renew`
  // extends it, as renewing does.
  Result<bool> AcquireLease(const std::string& name, const std::string& cookie, int duration_s,
                            bool renew) override;
  Status ReleaseLease(const std::string& name, const std::string& cookie) override;
  Result<bool> LeaseHeld(const std::string& name) override;

  // Test hooks, beside the interface.

  // Loses what a crash would: every object whose last write was a kDeferred
  // put not followed by Sync(). Returns their names, sorted.
  std::vector<std::string> DropUnsynced();
  // Names of the objects a crash would lose now, sorted.
  std::vector<std::string> Unsynced() const;
  // Sets an object's mtime (NotFound naming it if absent).
  Status SetMtime(const std::string& name, int64_t mtime_ns);
  // Replaces an object's bytes behind the interface's back, keeping its
  // mtime: damage on the medium (NotFound naming it if absent).
  Status Overwrite(const std::string& name, std::string_view data);
  // Takes the lease `name` away from whoever holds it (`rados lock break`):
  // the holder's next renewal fails. False if nobody held it.
  bool BreakLease(const std::string& name);
  // The cookie holding an unexpired lease `name`, "" if none.
  std::string LeaseHolder(const std::string& name) const;
  // Number of successful AcquireLease calls (renewals too) on the store.
  uint64_t LeaseAcquisitions() const;
  // Number of objects and their total size in bytes.
  uint64_t ObjectCount() const;
  uint64_t TotalBytes() const;

 private:
  struct Store;
  MemoryBackend(std::shared_ptr<Store> store, std::string label);

  std::shared_ptr<Store> store_;
  std::string label_;
};

}  // namespace ctdump::objstore

#endif  // CTDUMP_OBJSTORE_MEMORY_BACKEND_H_
