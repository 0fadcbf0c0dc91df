#include "objstore/fault_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <utility>

namespace ctdump::objstore {
namespace {

size_t Index(BackendOp op) { return static_cast<size_t>(op); }

// True if the nth..nth+times-1 matching call is this one (`seen` counts it).
bool Fires(uint64_t seen, uint64_t nth, uint64_t times, uint64_t fired) {
  return seen >= nth && fired < times;
}

}  // namespace

std::string_view BackendOpName(BackendOp op) {
  switch (op) {
    case BackendOp::kPutIfAbsent:
      return "put-if-absent";
    case BackendOp::kPut:
      return "put";
    case BackendOp::kSync:
      return "sync";
    case BackendOp::kTouch:
      return "touch";
    case BackendOp::kGet:
      return "get";
    case BackendOp::kStat:
      return "stat";
    case BackendOp::kList:
      return "list";
    case BackendOp::kDelete:
      return "delete";
    case BackendOp::kIsEmpty:
      return "is-empty";
    case BackendOp::kRemoveLeftovers:
      return "remove-leftovers";
    case BackendOp::kAcquireLease:
      return "acquire-lease";
    case BackendOp::kReleaseLease:
      return "release-lease";
    case BackendOp::kLeaseHeld:
      return "lease-held";
  }
  return "?";
}

Status StoreFullError() { return ErrnoError(ENOSPC, "injected fault"); }

void FaultPlan::AddFault(Fault fault) {
  std::lock_guard<std::mutex> l(mu_);
  faults_.push_back(FaultState{std::move(fault)});
}

void FaultPlan::AddGetDamage(GetDamage damage) {
  std::lock_guard<std::mutex> l(mu_);
  damages_.push_back(DamageState{std::move(damage)});
}

void FaultPlan::SetLatency(BackendOp op, std::chrono::microseconds base,
                           std::chrono::microseconds jitter, uint64_t seed) {
  std::lock_guard<std::mutex> l(mu_);
  // xorshift needs a state other than 0.
  latency_[Index(op)] = Latency{base, jitter, seed * 0x9e3779b97f4a7c15ull | 1};
}

void FaultPlan::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  faults_.clear();
  damages_.clear();
  for (Latency& lat : latency_) lat = Latency{};
}

uint64_t FaultPlan::Calls(BackendOp op) const {
  std::lock_guard<std::mutex> l(mu_);
  return calls_[Index(op)];
}

std::vector<std::string> FaultPlan::Injected() const {
  std::lock_guard<std::mutex> l(mu_);
  return injected_;
}

void FaultPlan::ResetCounts() {
  std::lock_guard<std::mutex> l(mu_);
  std::fill(std::begin(calls_), std::end(calls_), 0);
  injected_.clear();
}

FaultPlan::Decision FaultPlan::OnCall(BackendOp op, std::string_view name) {
  Decision d;
  std::chrono::microseconds delay{0};
  {
    std::lock_guard<std::mutex> l(mu_);
    ++calls_[Index(op)];
    Latency& lat = latency_[Index(op)];
    delay = lat.base;
    if (lat.jitter.count() > 0) {
      lat.state ^= lat.state << 13, lat.state ^= lat.state >> 7, lat.state ^= lat.state << 17;
      delay +=
          std::chrono::microseconds(lat.state % (static_cast<uint64_t>(lat.jitter.count()) + 1));
    }
    for (FaultState& f : faults_) {
      const auto& ops = f.fault.ops;
      if (std::find(ops.begin(), ops.end(), op) == ops.end() || !name.starts_with(f.fault.prefix))
        continue;
      ++f.seen;
      // The first fault that fires wins; later ones still count the call.
      if (!d.error.ok() || !Fires(f.seen, f.fault.nth, f.fault.times, f.fired)) continue;
      ++f.fired;
      d.error = f.fault.error;
      d.after_call = f.fault.after_call;
      injected_.push_back(fmt::format("{} {}: {}", BackendOpName(op), name, d.error.message()));
    }
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  return d;
}

void FaultPlan::OnGetResult(std::string_view name, std::string* data) {
  std::lock_guard<std::mutex> l(mu_);
  for (DamageState& s : damages_) {
    const GetDamage& g = s.damage;
    if (!name.starts_with(g.prefix)) continue;
    ++s.seen;
    if (!Fires(s.seen, g.nth, g.times, s.fired)) continue;
    ++s.fired;
    if (g.damage == ReadDamage::kTruncate) {
      if (data->size() > g.at) data->resize(g.at);
      injected_.push_back(fmt::format("get {}: truncated to {} bytes", name, data->size()));
    } else if (!data->empty()) {
      size_t at = static_cast<size_t>(std::min<uint64_t>(g.at, data->size() - 1));
      (*data)[at] = static_cast<char>((*data)[at] ^ 0x40);
      injected_.push_back(fmt::format("get {}: byte {} flipped", name, at));
    }
  }
}

FaultBackend::FaultBackend(std::unique_ptr<ObjectBackend> inner, std::shared_ptr<FaultPlan> plan)
    : inner_(std::move(inner)), plan_(std::move(plan)) {}

std::string FaultBackend::Describe() const { return inner_->Describe(); }

template <typename R, typename F>
R FaultBackend::Run(BackendOp op, const std::string& name, F&& call) {
  FaultPlan::Decision d = plan_->OnCall(op, name);
  if (d.error.ok()) return call();
  std::string what = name.empty() ? std::string(BackendOpName(op))
                                  : fmt::format("{} \"{}\"", BackendOpName(op), name);
  Status error(d.error.code(), fmt::format("{} in {}: {}", what, Describe(), d.error.message()));
  if (d.after_call) {
    R ignored = call();
    (void)ignored;
  }
  return error;
}

Result<bool> FaultBackend::PutIfAbsent(const std::string& name, std::string_view data,
                                       Durability durability) {
  return Run<Result<bool>>(BackendOp::kPutIfAbsent, name,
                           [&] { return inner_->PutIfAbsent(name, data, durability); });
}

Status FaultBackend::Sync() {
  return Run<Status>(BackendOp::kSync, "", [&] { return inner_->Sync(); });
}

Status FaultBackend::Touch(const std::string& name) {
  return Run<Status>(BackendOp::kTouch, name, [&] { return inner_->Touch(name); });
}

Status FaultBackend::Put(const std::string& name, std::string_view data) {
  return Run<Status>(BackendOp::kPut, name, [&] { return inner_->Put(name, data); });
}

Result<std::string> FaultBackend::Get(const std::string& name, uint64_t max_size) {
  return Run<Result<std::string>>(BackendOp::kGet, name, [&]() -> Result<std::string> {
    auto data = inner_->Get(name, max_size);
    if (data.ok()) plan_->OnGetResult(name, &*data);
    return data;
  });
}

Result<ObjectStat> FaultBackend::Stat(const std::string& name) {
  return Run<Result<ObjectStat>>(BackendOp::kStat, name, [&] { return inner_->Stat(name); });
}

Result<std::vector<std::string>> FaultBackend::List(const std::string& prefix) {
  return Run<Result<std::vector<std::string>>>(BackendOp::kList, prefix,
                                               [&] { return inner_->List(prefix); });
}

Status FaultBackend::Delete(const std::string& name) {
  return Run<Status>(BackendOp::kDelete, name, [&] { return inner_->Delete(name); });
}

Result<bool> FaultBackend::IsEmpty() {
  return Run<Result<bool>>(BackendOp::kIsEmpty, "", [&] { return inner_->IsEmpty(); });
}

Result<LeftoverCount> FaultBackend::RemoveLeftovers(const std::string& prefix,
                                                    int64_t temps_older_than_ns, bool empty_dirs) {
  return Run<Result<LeftoverCount>>(BackendOp::kRemoveLeftovers, prefix, [&] {
    return inner_->RemoveLeftovers(prefix, temps_older_than_ns, empty_dirs);
  });
}

int FaultBackend::IoDepth() const { return inner_->IoDepth(); }
int64_t FaultBackend::ClockSkewNs() const { return inner_->ClockSkewNs(); }
bool FaultBackend::HasLeases() const { return inner_->HasLeases(); }

Result<bool> FaultBackend::AcquireLease(const std::string& name, const std::string& cookie,
                                        int duration_s, bool renew) {
  return Run<Result<bool>>(BackendOp::kAcquireLease, name,
                           [&] { return inner_->AcquireLease(name, cookie, duration_s, renew); });
}

Status FaultBackend::ReleaseLease(const std::string& name, const std::string& cookie) {
  return Run<Status>(BackendOp::kReleaseLease, name,
                     [&] { return inner_->ReleaseLease(name, cookie); });
}

Result<bool> FaultBackend::LeaseHeld(const std::string& name) {
  return Run<Result<bool>>(BackendOp::kLeaseHeld, name, [&] { return inner_->LeaseHeld(name); });
}

}  // namespace ctdump::objstore
