// A frozen container that is thawed again on every exit path.
#ifndef CTDUMP_MODES_FREEZE_H_
#define CTDUMP_MODES_FREEZE_H_

#include <chrono>

#include "container/control.h"
#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::modes {

class FrozenContainer {
 public:
  FrozenContainer(container::Control* ct, Observer* log) : ct_(ct), log_(log) {}
  FrozenContainer(const FrozenContainer&) = delete;
  FrozenContainer& operator=(const FrozenContainer&) = delete;
  ~FrozenContainer() {
    Status s = Thaw();
    if (!s.ok()) log_->Log(LogLevel::kErr, s.message());
  }

  // Logs "suspending guest" and freezes (the cgroup freezer, polled).
  Status Freeze();
  // Logs "resuming guest", thaws and logs the freeze window in ms; idempotent.
  Status Thaw();
  bool frozen() const { return frozen_; }
  // The container was frozen before ctdump came (it stays frozen).
  bool foreign() const { return foreign_; }

 private:
  container::Control* ct_;
  Observer* log_;
  bool frozen_ = false;
  bool foreign_ = false;
  std::chrono::steady_clock::time_point since_;
};

}  // namespace ctdump::modes

#endif  // CTDUMP_MODES_FREEZE_H_
