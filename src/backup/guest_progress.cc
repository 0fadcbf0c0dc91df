#include "backup/guest_progress.h"

#include <chrono>

#include "sys/file.h"

namespace ctdump::backup {

void GuestProgress::OnProgress(const Progress& p) noexcept {
  if (!p.phase.empty() && p.phase != "backup") {
    out_->OnProgress(p);  // a mode's work (suspend's passes), as it is
    return;
  }
  try {
    Progress q = p;
    q.phase = "backup";
    if (!q.total_bytes) q.total_bytes = total_;
    if (!logical_ || q.bytes > *logical_) logical_ = q.bytes;
    out_->OnProgress(q);
  } catch (...) {  // out of memory copying a path: progress is not worth failing for
  }
}

Status RemoveTreeWithProgress(const std::string& path, Observer* observer) {
  using Clock = std::chrono::steady_clock;
  constexpr auto kInterval = std::chrono::milliseconds(250);
  const auto start = Clock::now();
  auto last = start;
  bool reported = false;
  Progress p;
  p.phase = "remove-copy";
  // On 4 threads: unlinks in different directories overlap in the kernel
  // (suspend's copy of a 74k-file tree took 4-6 s on one).
  Status s = sys::RemoveTreeOnThreads(path, 4, [&](uint64_t entries, uint64_t bytes) {
    p.files = entries;
    p.bytes = bytes;
    auto now = Clock::now();
    if (now - last < kInterval) return;
    last = now;
    reported = true;
    observer->OnProgress(p);
  });
  if (reported) observer->OnProgress(p);  // the last count
  return s;
}

}  // namespace ctdump::backup
