#include "modes/freeze.h"

#include <fmt/format.h>

namespace ctdump::modes {

Status FrozenContainer::Freeze() {
  if (frozen_) return Status::OK();
  // Frozen by someone else (an admin): consistent already, and not ours to
  // thaw afterwards.
  if (ct_->GetState() == container::State::kFrozen) {
    log_->Log(LogLevel::kInfo, "guest is already frozen (not by ctdump); leaving it frozen");
    foreign_ = true;
    return Status::OK();
  }
  log_->Log(LogLevel::kInfo, "suspending guest");
  since_ = std::chrono::steady_clock::now();
  // Marked first: a freeze that half-worked must still be undone.
  frozen_ = true;
  int attempts = 1;
  Status s = ct_->Freeze(&attempts);
  if (s.ok() && attempts > 1)
    log_->Log(LogLevel::kInfo,
              fmt::format("guest froze at attempt {} (the freezer stalled on a fork and was "
                          "thawed and set again)",
                          attempts));
  return s;
}

Status FrozenContainer::Thaw() {
  if (!frozen_) return Status::OK();
  log_->Log(LogLevel::kInfo, "resuming guest");
  Status s = ct_->Thaw();
  if (!s.ok()) return s.WithContext(fmt::format("unable to thaw container '{}'", ct_->name()));
  frozen_ = false;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  since_);
  log_->Log(LogLevel::kInfo, fmt::format("guest was frozen for {} ms", ms.count()));
  return Status::OK();
}

}  // namespace ctdump::modes
