#include "backup/mode_adapters.h"

namespace ctdump::backup {

Status GuestModeHooks::Run(modes::HookPhase phase, const char* mode) {
  return script_->RunGuestPhase(modes::HookPhaseName(phase), mode, vmid_, *env_, log_);
}

Status GuestModeJournal::SetStopped(bool stopped) {
  return journal_->Update([stopped](JournalState& j) { j.stopped = stopped; });
}

Status GuestModeJournal::SetFrozen(bool frozen) {
  return journal_->Update([frozen](JournalState& j) { j.frozen = frozen; });
}

Status GuestModeJournal::AddSnapshots(bool freezing, const std::vector<std::string>& snapshots,
                                      const std::vector<std::string>& copies) {
  return journal_->Update([&](JournalState& j) {
    j.frozen = freezing;
    j.snapshots.insert(j.snapshots.end(), snapshots.begin(), snapshots.end());
    j.copies.insert(j.copies.end(), copies.begin(), copies.end());
  });
}

Status GuestModeJournal::ClearSnapshots() {
  return journal_->Update([](JournalState& j) {
    j.snapshots.clear();
    j.copies.clear();
  });
}

}  // namespace ctdump::backup
