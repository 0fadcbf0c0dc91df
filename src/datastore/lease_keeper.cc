#include "datastore/lease_keeper.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace ctdump::datastore {
namespace {

using Clock = LeaseKeeper::Clock;

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// How often a lease is renewed, and how long without a successful renewal
// it may go before its holder gives it up (the rest of the duration is the
// margin for an operation in flight).
Clock::duration RenewInterval(int duration_s) { return Seconds(duration_s / 3.0); }
Clock::duration SafeWindow(int duration_s) { return Seconds(duration_s * 2.0 / 3.0); }
constexpr auto kRetryInterval = std::chrono::seconds(1);

}  // namespace

LeaseKeeper::LeaseKeeper(ObjectBackend& backend, std::string what)
    : backend_(backend), what_(std::move(what)) {}

LeaseKeeper::~LeaseKeeper() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeaseKeeper::Keep(const std::string& name, const std::string& cookie, int duration_s,
                       Clock::time_point sent) {
  std::lock_guard<std::mutex> l(mu_);
  Lease& lease = leases_[name];
  lease = Lease{cookie, duration_s, sent, sent + RenewInterval(duration_s), "", std::nullopt};
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  wake_.notify_all();
}

std::optional<LeaseKeeper::Forgotten> LeaseKeeper::Forget(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = leases_.find(name);
  if (it == leases_.end()) return std::nullopt;
  Forgotten f{it->second.cookie, CheckLocked(name, it->second, Clock::now()).ok()};
  leases_.erase(it);
  return f;
}

Status LeaseKeeper::CheckLocked(const std::string& name, Lease& l, Clock::time_point now) {
  if (!l.lost && now - l.last_ok_sent >= SafeWindow(l.duration_s)) {
    l.lost = fmt::format(
        "its lease of {} s was not renewed for {:.0f} s{}, so another host may have taken it",
        l.duration_s, std::chrono::duration<double>(now - l.last_ok_sent).count(),
        l.last_error.empty() ? "" : " (" + l.last_error + ")");
  }
  if (!l.lost) return Status::OK();
  return FailedPreconditionError(fmt::format("{}: lost the lock '{}': {}", what_, name, *l.lost));
}

Status LeaseKeeper::Check(const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = leases_.find(name);
  if (it == leases_.end())
    return FailedPreconditionError(fmt::format("{}: the lock '{}' is not held", what_, name));
  return CheckLocked(name, it->second, Clock::now());
}

Status LeaseKeeper::Renew(const std::string& name) {
  std::string cookie;
  int duration_s = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = leases_.find(name);
    if (it == leases_.end())
      return FailedPreconditionError(fmt::format("{}: the lock '{}' is not held", what_, name));
    RETURN_IF_ERROR(CheckLocked(name, it->second, Clock::now()));
    cookie = it->second.cookie;
    duration_s = it->second.duration_s;
  }
  const Clock::time_point sent = Clock::now();
  Result<bool> r = backend_.AcquireLease(name, cookie, duration_s, /*renew=*/true);
  std::lock_guard<std::mutex> l(mu_);
  Apply(name, cookie, sent, r);
  auto it = leases_.find(name);
  if (it == leases_.end() || it->second.cookie != cookie)
    return FailedPreconditionError(fmt::format("{}: the lock '{}' is not held", what_, name));
  if (!r.ok() && !it->second.lost)
    return r.status().WithContext(fmt::format("{}: renewing the lease of '{}'", what_, name));
  return CheckLocked(name, it->second, Clock::now());
}

void LeaseKeeper::Apply(const std::string& name, const std::string& cookie, Clock::time_point sent,
                        const Result<bool>& r) {
  auto it = leases_.find(name);
  if (it == leases_.end() || it->second.cookie != cookie) return;  // forgotten meanwhile
  Lease& l = it->second;
  if (l.lost) return;
  if (r.ok() && *r) {
    ++renewals_;
    l.last_ok_sent = std::max(l.last_ok_sent, sent);
    l.next_due = l.last_ok_sent + RenewInterval(l.duration_s);
    l.last_error.clear();
  } else if (r.ok()) {
    l.lost = "the backend says its lease expired or was broken (renewal refused)";
  } else {
    l.last_error = r.status().message();
    l.next_due = Clock::now() + kRetryInterval;
  }
  CheckLocked(name, l, Clock::now()).IgnoreError();
}

uint64_t LeaseKeeper::renewals() const {
  std::lock_guard<std::mutex> l(mu_);
  return renewals_;
}

void LeaseKeeper::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    Clock::time_point due = Clock::time_point::max();
    for (const auto& [name, lease] : leases_)
      if (!lease.lost) due = std::min(due, lease.next_due);
    if (due == Clock::time_point::max()) {
      wake_.wait(l);
      continue;
    }
    if (Clock::now() < due) {
      wake_.wait_until(l, due);
      continue;  // woken early (a new lease, the end) or due now: look again
    }
    struct Due {
      std::string name, cookie;
      int duration_s;
    };
    std::vector<Due> todo;
    const Clock::time_point now = Clock::now();
    for (const auto& [name, lease] : leases_)
      if (!lease.lost && lease.next_due <= now)
        todo.push_back({name, lease.cookie, lease.duration_s});
    for (const Due& d : todo) {
      if (stop_) break;
      l.unlock();
      const Clock::time_point sent = Clock::now();
      Result<bool> r = backend_.AcquireLease(d.name, d.cookie, d.duration_s, /*renew=*/true);
      l.lock();
      Apply(d.name, d.cookie, sent, r);
    }
  }
}

}  // namespace ctdump::datastore
