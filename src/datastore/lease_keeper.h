// Keeps the leases of a Datastore's locks alive (backends with leases:
// ObjectBackend::HasLeases, RADOS's cls_lock).
//
// A lock on such a backend is a lease that expires unless renewed
// (datastore.h). The keeper renews every lease it keeps every duration/3 on
// one thread of its own, started with the first lease (never before: a
// process that takes no lock stays single-threaded). A renewal the backend
// refuses (the lease expired or was broken) marks the lease lost at once; a
// renewal that fails (an error, a timeout) is retried every second, and the
// lease counts as lost once no renewal has succeeded for two thirds of its
// duration (measured from when the last successful renewal was SENT, on the
// monotonic clock): the remaining third is the margin for an operation
// already in flight when the holder gives up. A lost lease stays lost:
// Check and Renew fail for it from then on, so that whoever relies on the
// lock (a backup about to publish its manifest, gc about to delete) stops.
//
// Fork: the thread may run while ctdump forks a child that runs ctdump code
// without exec (the datastore worker). That child never touches the keeper
// (nor the Datastore or its backend) and leaves with _exit, so it neither
// joins the thread it does not have nor takes the keeper's mutex, which the
// thread may have held at the fork.
//
// Thread-safety: every method may be called from any thread.
#ifndef CTDUMP_DATASTORE_LEASE_KEEPER_H_
#define CTDUMP_DATASTORE_LEASE_KEEPER_H_

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ctdump/object_backend.h"
#include "ctdump/status.h"

namespace ctdump::datastore {

class LeaseKeeper {
 public:
  using Clock = std::chrono::steady_clock;

  // `backend` (with leases) must outlive the keeper; `what` names the store
  // in messages ("datastore 'x'").
  LeaseKeeper(ObjectBackend& backend, std::string what);
  // Stops and joins the thread. Leases still kept are left to expire.
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Keeps lease `name`, which `cookie` acquired for `duration_s` seconds with
  // a call sent at `sent`. Replaces an earlier lease of that name.
  void Keep(const std::string& name, const std::string& cookie, int duration_s,
            Clock::time_point sent);
  // Stops keeping `name`. Its cookie, and whether the lease was still held
  // without a gap (false: lost, or not kept); nullopt if it was not kept.
  struct Forgotten {
    std::string cookie;
    bool held = false;
  };
  std::optional<Forgotten> Forget(const std::string& name);

  // OK while `name` has been held without a gap; FailedPrecondition naming
  // the lock and why otherwise (or if it is not kept).
  Status Check(const std::string& name);
  // Renews `name` now, waiting for the backend, then Check.
  Status Renew(const std::string& name);

  // Renewals that succeeded so far (tests).
  uint64_t renewals() const;

 private:
  struct Lease {
    std::string cookie;
    int duration_s = 0;
    Clock::time_point last_ok_sent;  // the last acquire or renewal that succeeded
    Clock::time_point next_due;
    std::string last_error;           // of a failed renewal since the last success
    std::optional<std::string> lost;  // why it is lost
  };

  void Run();
  // Applies the outcome of renewing `name` as `cookie`, sent at `sent`. Caller holds mu_.
  void Apply(const std::string& name, const std::string& cookie, Clock::time_point sent,
             const Result<bool>& r);
  // Marks `l` lost if no renewal succeeded within the safe window; returns
  // its error, or OK. Caller holds mu_.
  Status CheckLocked(const std::string& name, Lease& l, Clock::time_point now);

  ObjectBackend& backend_;
  const std::string what_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable wake_;
  std::map<std::string, Lease> leases_;
  bool stop_ = false;
  uint64_t renewals_ = 0;
  std::thread thread_;  // started by the first Keep
};

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_LEASE_KEEPER_H_
