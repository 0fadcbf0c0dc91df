#include "objstore/memory_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <utility>

#include "objstore/names.h"

namespace ctdump::objstore {
namespace {

int64_t RealtimeNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// The objects of one store, shared by every MemoryBackend made by Share().
struct MemoryBackend::Store {
  struct Object {
    // Immutable once stored: Get copies it outside the lock.
    std::shared_ptr<const std::string> data;
    int64_t mtime_ns = 0;
  };

  // Set once, before any sharing.
  std::function<int64_t()> clock_ns;
  bool leases = false;
  int io_depth = 0;
  int64_t clock_skew_ns = 0;

  struct Lease {
    std::string cookie;
    int64_t expires_ns = 0;  // on the store's clock
  };

  // Guards `objects` and `unsynced`: writers (puts, touch, delete, sync and
  // the test hooks) hold it exclusively, readers (get, stat, list) shared.
  // The clock is called under it.
  mutable std::shared_mutex mu;
  std::map<std::string, Object> objects;        // std::string's order: bytewise
  std::set<std::string> unsynced;               // names whose last write was a kDeferred put
  std::map<std::string, Lease> leases_by_name;  // possibly expired: see LiveLease
  uint64_t lease_acquisitions = 0;

  // The unexpired lease `name`, or nullptr. Caller holds mu.
  const Lease* LiveLease(const std::string& name) const {
    auto it = leases_by_name.find(name);
    if (it == leases_by_name.end() || it->second.expires_ns <= Now()) return nullptr;
    return &it->second;
  }

  int64_t Now() const { return clock_ns ? clock_ns() : RealtimeNs(); }

  // OK unless `name` would be an object and a "directory" of others at once
  // (an ancestor is an object, or objects lie below it). Caller holds mu.
  Status CheckNoConflict(const std::string& name, const std::string& describe) const {
    bool conflict = false;
    for (size_t slash = name.find('/'); slash != std::string::npos && !conflict;
         slash = name.find('/', slash + 1)) {
      conflict = objects.count(name.substr(0, slash)) > 0;
    }
    const std::string below = name + "/";
    auto it = objects.lower_bound(below);
    conflict = conflict || (it != objects.end() && it->first.starts_with(below));
    if (!conflict) return Status::OK();
    return FailedPreconditionError(
        fmt::format("Object {} in {} conflicts with a directory of other objects",
                    QuoteObjectName(name), describe));
  }
};

MemoryBackend::MemoryBackend(MemoryBackendOptions options)
    : store_(std::make_shared<Store>()), label_(std::move(options.label)) {
  store_->clock_ns = std::move(options.clock_ns);
  store_->leases = options.leases;
  store_->io_depth = options.io_depth;
  store_->clock_skew_ns = options.clock_skew_ns;
}

MemoryBackend::MemoryBackend(std::shared_ptr<Store> store, std::string label)
    : store_(std::move(store)), label_(std::move(label)) {}

MemoryBackend::~MemoryBackend() = default;

std::unique_ptr<MemoryBackend> MemoryBackend::Share(std::string label) const {
  return std::unique_ptr<MemoryBackend>(new MemoryBackend(store_, std::move(label)));
}

std::string MemoryBackend::Describe() const { return "memory:" + label_; }

namespace {

Status NotFoundIn(const std::string& name, const std::string& describe) {
  return NotFoundError(fmt::format("Object {} not found in {}", QuoteObjectName(name), describe));
}

}  // namespace

Result<bool> MemoryBackend::PutIfAbsent(const std::string& name, std::string_view data,
                                        Durability durability) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  auto bytes = std::make_shared<const std::string>(data);  // copied outside the lock
  std::unique_lock<std::shared_mutex> l(store_->mu);
  if (store_->objects.count(name)) {
    // "Already existed" is as durable as "written" (the caller is about to
    // reference it), as in the local backend.
    if (durability == Durability::kSync) store_->unsynced.erase(name);
    return false;
  }
  RETURN_IF_ERROR(store_->CheckNoConflict(name, Describe()));
  store_->objects[name] = Store::Object{std::move(bytes), store_->Now()};
  if (durability == Durability::kDeferred) store_->unsynced.insert(name);
  return true;
}

Status MemoryBackend::Sync() {
  std::unique_lock<std::shared_mutex> l(store_->mu);
  store_->unsynced.clear();
  return Status::OK();
}

Status MemoryBackend::Touch(const std::string& name) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  std::unique_lock<std::shared_mutex> l(store_->mu);
  auto it = store_->objects.find(name);
  if (it == store_->objects.end()) return NotFoundIn(name, Describe());
  it->second.mtime_ns = store_->Now();
  return Status::OK();
}

Status MemoryBackend::Put(const std::string& name, std::string_view data) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  auto bytes = std::make_shared<const std::string>(data);
  std::unique_lock<std::shared_mutex> l(store_->mu);
  if (!store_->objects.count(name)) RETURN_IF_ERROR(store_->CheckNoConflict(name, Describe()));
  store_->objects[name] = Store::Object{std::move(bytes), store_->Now()};
  store_->unsynced.erase(name);
  return Status::OK();
}

Result<std::string> MemoryBackend::Get(const std::string& name, uint64_t max_size) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  std::shared_ptr<const std::string> data;
  {
    std::shared_lock<std::shared_mutex> l(store_->mu);
    auto it = store_->objects.find(name);
    if (it == store_->objects.end()) return NotFoundIn(name, Describe());
    data = it->second.data;
  }
  if (data->size() > max_size)
    return DataLossError(
        fmt::format("Object {} in {} is {} bytes, more than the {} bytes it can be",
                    QuoteObjectName(name), Describe(), data->size(), max_size));
  return *data;
}

Result<ObjectStat> MemoryBackend::Stat(const std::string& name) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  std::shared_lock<std::shared_mutex> l(store_->mu);
  auto it = store_->objects.find(name);
  if (it == store_->objects.end()) return NotFoundIn(name, Describe());
  return ObjectStat{it->second.data->size(), it->second.mtime_ns};
}

Result<std::vector<std::string>> MemoryBackend::List(const std::string& prefix) {
  RETURN_IF_ERROR(ValidateListPrefix(prefix));
  std::vector<std::string> out;
  std::shared_lock<std::shared_mutex> l(store_->mu);
  for (auto it = store_->objects.lower_bound(prefix);
       it != store_->objects.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(it->first);
  }
  return out;
}

Status MemoryBackend::Delete(const std::string& name) {
  RETURN_IF_ERROR(ValidateObjectName(name));
  std::unique_lock<std::shared_mutex> l(store_->mu);
  if (store_->objects.erase(name) == 0) return NotFoundIn(name, Describe());
  store_->unsynced.erase(name);
  return Status::OK();
}

Result<bool> MemoryBackend::IsEmpty() {
  std::shared_lock<std::shared_mutex> l(store_->mu);
  return store_->objects.empty();
}

Result<LeftoverCount> MemoryBackend::RemoveLeftovers(const std::string& prefix, int64_t, bool) {
  if (!prefix.empty() &&
      (prefix.back() != '/' || !ValidateObjectName(prefix.substr(0, prefix.size() - 1)).ok()))
    return InvalidArgumentError(fmt::format(
        "Invalid leftover prefix {}: not a name followed by '/'", QuoteObjectName(prefix)));
  return LeftoverCount{};
}

int MemoryBackend::IoDepth() const { return store_->io_depth; }
int64_t MemoryBackend::ClockSkewNs() const { return store_->clock_skew_ns; }
bool MemoryBackend::HasLeases() const { return store_->leases; }

Result<bool> MemoryBackend::AcquireLease(const std::string& name, const std::string& cookie,
                                         int duration_s, bool renew) {
  if (!store_->leases) return ObjectBackend::AcquireLease(name, cookie, duration_s, renew);
  RETURN_IF_ERROR(ValidateObjectName(name));
  if (cookie.empty() || duration_s <= 0)
    return InvalidArgumentError(fmt::format("Lease {} in {}: empty cookie or duration {} s",
                                            QuoteObjectName(name), Describe(), duration_s));
  std::unique_lock<std::shared_mutex> l(store_->mu);
  const Store::Lease* live = store_->LiveLease(name);
  if (live && live->cookie != cookie) return false;
  if (renew && !live) return false;  // lapsed (and perhaps taken and given up since)
  store_->leases_by_name[name] =
      Store::Lease{cookie, store_->Now() + int64_t{duration_s} * 1'000'000'000};
  ++store_->lease_acquisitions;
  return true;
}

Status MemoryBackend::ReleaseLease(const std::string& name, const std::string& cookie) {
  if (!store_->leases) return ObjectBackend::ReleaseLease(name, cookie);
  RETURN_IF_ERROR(ValidateObjectName(name));
  std::unique_lock<std::shared_mutex> l(store_->mu);
  auto it = store_->leases_by_name.find(name);
  if (it != store_->leases_by_name.end() && it->second.cookie == cookie)
    store_->leases_by_name.erase(it);
  return Status::OK();
}

Result<bool> MemoryBackend::LeaseHeld(const std::string& name) {
  if (!store_->leases) return ObjectBackend::LeaseHeld(name);
  RETURN_IF_ERROR(ValidateObjectName(name));
  std::shared_lock<std::shared_mutex> l(store_->mu);
  return store_->LiveLease(name) != nullptr;
}

bool MemoryBackend::BreakLease(const std::string& name) {
  std::unique_lock<std::shared_mutex> l(store_->mu);
  const bool live = store_->LiveLease(name) != nullptr;
  store_->leases_by_name.erase(name);
  return live;
}

std::string MemoryBackend::LeaseHolder(const std::string& name) const {
  std::shared_lock<std::shared_mutex> l(store_->mu);
  const Store::Lease* live = store_->LiveLease(name);
  return live ? live->cookie : std::string();
}

uint64_t MemoryBackend::LeaseAcquisitions() const {
  std::shared_lock<std::shared_mutex> l(store_->mu);
  return store_->lease_acquisitions;
}

std::vector<std::string> MemoryBackend::DropUnsynced() {
  std::unique_lock<std::shared_mutex> l(store_->mu);
  std::vector<std::string> lost(store_->unsynced.begin(), store_->unsynced.end());
  for (const auto& name : lost) store_->objects.erase(name);
  store_->unsynced.clear();
  return lost;
}

std::vector<std::string> MemoryBackend::Unsynced() const {
  std::shared_lock<std::shared_mutex> l(store_->mu);
  return {store_->unsynced.begin(), store_->unsynced.end()};
}

Status MemoryBackend::SetMtime(const std::string& name, int64_t mtime_ns) {
  std::unique_lock<std::shared_mutex> l(store_->mu);
  auto it = store_->objects.find(name);
  if (it == store_->objects.end()) return NotFoundIn(name, Describe());
  it->second.mtime_ns = mtime_ns;
  return Status::OK();
}

Status MemoryBackend::Overwrite(const std::string& name, std::string_view data) {
  auto bytes = std::make_shared<const std::string>(data);
  std::unique_lock<std::shared_mutex> l(store_->mu);
  auto it = store_->objects.find(name);
  if (it == store_->objects.end()) return NotFoundIn(name, Describe());
  it->second.data = std::move(bytes);
  return Status::OK();
}

uint64_t MemoryBackend::ObjectCount() const {
  std::shared_lock<std::shared_mutex> l(store_->mu);
  return store_->objects.size();
}

uint64_t MemoryBackend::TotalBytes() const {
  std::shared_lock<std::shared_mutex> l(store_->mu);
  uint64_t total = 0;
  for (const auto& [name, object] : store_->objects) total += object.data->size();
  return total;
}

}  // namespace ctdump::objstore
