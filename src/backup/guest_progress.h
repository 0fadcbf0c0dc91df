// The observer a container's backup reports through (the provider's and the
// mode's progress and log lines pass it on the way to the task log): it
// names the phase ("backup") and fills in the total (the previous backup's
// logical size) where the producer gives none, and keeps the largest byte
// count of phase "backup", this backup's logical size and the next one's
// total (kept in the container's record, guest_state.h).
//
// Also: the removal of a backup's temporary files (suspend's copy) with
// progress, phase "remove-copy".
#ifndef CTDUMP_BACKUP_GUEST_PROGRESS_H_
#define CTDUMP_BACKUP_GUEST_PROGRESS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::backup {

class GuestProgress : public Observer {
 public:
  // `out` must outlive this; `total`: the previous backup's logical size.
  GuestProgress(Observer* out, std::optional<uint64_t> total) : out_(out), total_(total) {}

  void Log(LogLevel level, std::string_view message) noexcept override {
    out_->Log(level, message);
  }
  void OnProgress(const Progress& p) noexcept override;
  void OnJobStart(const JobInfo& j) noexcept override { out_->OnJobStart(j); }
  void OnGuestStart(std::string_view vmid) noexcept override { out_->OnGuestStart(vmid); }
  void OnGuestEnd(const GuestSummary& g) noexcept override { out_->OnGuestEnd(g); }

  // The largest byte count of phase "backup" (nullopt: none reported).
  std::optional<uint64_t> logical_bytes() const { return logical_; }

 private:
  Observer* out_;
  std::optional<uint64_t> total_;
  std::optional<uint64_t> logical_;
};

// sys::RemoveTreeOnThreads with progress (phase "remove-copy": entries and bytes
// removed) to `observer`, at most every 250 ms and once at the end, and only
// once the removal has taken 250 ms (a small tree reports nothing).
Status RemoveTreeWithProgress(const std::string& path, Observer* observer);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_GUEST_PROGRESS_H_
