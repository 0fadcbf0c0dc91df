// A fault-injecting ObjectBackend decorator for tests: wraps any backend and,
// as a FaultPlan says, fails the Nth call of chosen methods with a chosen
// Status (a store full at the Nth put, an I/O error on sync), damages what
// Get returns (truncated, a byte flipped), delays calls, and counts them.
//
// Deterministic: a fault fires on the Nth matching call counted from when it
// was added, whatever happened before; with several threads calling at once
// (the datastore's chunk pool) which object that Nth call is for may vary,
// but that exactly the Nth call fails does not. Latency follows a seeded
// sequence per method.
//
// The plan is shared: the test keeps a std::shared_ptr<FaultPlan> while the
// backend is owned by what it tests (a Datastore), and changes the plan
// between steps (fail, then clear and check that the next run works).
//
// Without faults or latency the decorator changes nothing: it runs the
// backend conformance suite (fault_backend_test.cc).
//
// IoDepth, ClockSkewNs and HasLeases are the inner backend's; the lease
// calls pass through like the others (a fault can fail a renewal: the lease
// name is the object name a Fault's prefix matches).
#ifndef CTDUMP_OBJSTORE_FAULT_BACKEND_H_
#define CTDUMP_OBJSTORE_FAULT_BACKEND_H_

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/object_backend.h"

namespace ctdump::objstore {

// The methods of ObjectBackend a fault can target (Describe cannot fail).
enum class BackendOp {
  kPutIfAbsent,
  kPut,
  kSync,
  kTouch,
  kGet,
  kStat,
  kList,
  kDelete,
  kIsEmpty,
  kRemoveLeftovers,
  kAcquireLease,
  kReleaseLease,
  kLeaseHeld,
};
inline constexpr size_t kBackendOpCount = 13;
// "put-if-absent", "put", "sync", ... as in messages.
std::string_view BackendOpName(BackendOp op);

inline constexpr uint64_t kEveryTime = std::numeric_limits<uint64_t>::max();

// A failing call.
struct Fault {
  // Calls of these methods count (empty: none).
  std::vector<BackendOp> ops;
  // ... whose object name starts with this (List and RemoveLeftovers: their
  // prefix; Sync and IsEmpty have none, so only "" matches them).
  std::string prefix;
  // The first matching call that fails, 1-based, counted from AddFault.
  uint64_t nth = 1;
  // How many matching calls fail from the nth on (kEveryTime: all).
  uint64_t times = 1;
  // The error returned. Its code is kept; the message is put after the
  // method, object and backend ("put \"chunks/..\" in memory:x: <message>").
  Status error = IOError("injected I/O error");
  // False: the call fails without reaching the backend (nothing written,
  // deleted or read). True: the call is made and its result replaced by the
  // error (the acknowledgement was lost: the object may be written/deleted).
  bool after_call = false;
};

// How a Get result is damaged.
enum class ReadDamage {
  kTruncate,  // only the first `at` bytes are returned (all if shorter)
  kFlipByte,  // byte `at` (the last if `at` is beyond it) is XORed with 0x40
};

struct GetDamage {
  std::string prefix;  // of the object names it applies to
  uint64_t nth = 1;    // as in Fault, counted over successful Gets of matching names
  uint64_t times = 1;
  ReadDamage damage = ReadDamage::kFlipByte;
  uint64_t at = 0;
};

// The store full error a local backend gives (ENOSPC): IOError "No space
// left on device".
Status StoreFullError();

// What to inject. Thread-safe: tests change it while the backend is in use.
class FaultPlan {
 public:
  FaultPlan() = default;
  FaultPlan(const FaultPlan&) = delete;
  FaultPlan& operator=(const FaultPlan&) = delete;

  void AddFault(Fault fault);
  void AddGetDamage(GetDamage damage);
  // Every call of `op` sleeps `base` plus a pseudo-random part of up to
  // `jitter`, drawn from a sequence seeded with `seed`.
  void SetLatency(BackendOp op, std::chrono::microseconds base,
                  std::chrono::microseconds jitter = std::chrono::microseconds(0),
                  uint64_t seed = 1);
  // Removes every fault, damage and latency (the counts stay).
  void Clear();

  // Calls of `op` so far (failed ones included).
  uint64_t Calls(BackendOp op) const;
  // Faults and damages that fired so far, one line each:
  // "<method> <object>: <error or damage>".
  std::vector<std::string> Injected() const;
  void ResetCounts();

  // For FaultBackend: counts the call and returns the fault to inject (OK
  // for none); sleeps the latency first, outside the lock.
  struct Decision {
    Status error;
    bool after_call = false;
  };
  Decision OnCall(BackendOp op, std::string_view name);
  // For FaultBackend: damages `data` (the result of a successful Get) if a
  // GetDamage says so.
  void OnGetResult(std::string_view name, std::string* data);

 private:
  struct FaultState {
    Fault fault;
    uint64_t seen = 0;   // matching calls so far
    uint64_t fired = 0;  // of which failed
  };
  struct DamageState {
    GetDamage damage;
    uint64_t seen = 0;
    uint64_t fired = 0;
  };
  struct Latency {
    std::chrono::microseconds base{0};
    std::chrono::microseconds jitter{0};
    uint64_t state = 0;  // xorshift state
  };

  // Guards everything below.
  mutable std::mutex mu_;
  std::vector<FaultState> faults_;
  std::vector<DamageState> damages_;
  Latency latency_[kBackendOpCount];
  uint64_t calls_[kBackendOpCount] = {};
  std::vector<std::string> injected_;
};

class FaultBackend final : public ObjectBackend {
 public:
  // Wraps `inner`; `plan` (never null) says what to inject.
  FaultBackend(std::unique_ptr<ObjectBackend> inner, std::shared_ptr<FaultPlan> plan);

  FaultPlan& plan() { return *plan_; }
  ObjectBackend& inner() { return *inner_; }

  // The inner backend's, unchanged.
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
  Result<LeftoverCount> RemoveLeftovers(const std::string& prefix, int64_t temps_older_than_ns,
                                        bool empty_dirs) override;
  // The inner backend's, unchanged (they cannot fail).
  int IoDepth() const override;
  int64_t ClockSkewNs() const override;
  bool HasLeases() const override;
  Result<bool> AcquireLease(const std::string& name, const std::string& cookie, int duration_s,
                            bool renew) override;
  Status ReleaseLease(const std::string& name, const std::string& cookie) override;
  Result<bool> LeaseHeld(const std::string& name) override;

 private:
  // Runs `call` unless the plan fails it first; replaces its result if the
  // plan fails it after.
  template <typename R, typename F>
  R Run(BackendOp op, const std::string& name, F&& call);

  std::unique_ptr<ObjectBackend> inner_;
  std::shared_ptr<FaultPlan> plan_;
};

}  // namespace ctdump::objstore

#endif  // CTDUMP_OBJSTORE_FAULT_BACKEND_H_
