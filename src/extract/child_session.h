// The parent's side of one extraction: feeds the child's stdin and listens
// to its stderr.
//
// One poll() loop on the calling thread does both: while a Write()
// waits for room in the stdin pipe (or for bwlimit tokens) it keeps reading
// the child's report lines, so a child that reports a lot can never block
// ctdump feeding it. A child that stops reading (it refused a member and
// exited) turns later writes into no-ops (closed()); Finish() then returns
// the child's own error. SIGPIPE is blocked while the session lives.
// A new SIGINT/SIGTERM/SIGHUP (sys/signals.h) ends the session with
// Cancelled; the child is killed.
#ifndef CTDUMP_EXTRACT_CHILD_SESSION_H_
#define CTDUMP_EXTRACT_CHILD_SESSION_H_

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "extract/extract.h"
#include "extract/report.h"
#include "sys/subprocess.h"
#include "sys/token_bucket.h"

namespace ctdump::extract {

class ChildSession {
 public:
  // `proc` has stdin and stderr pipes. `what` names the source in errors
  // ("'/x/y.tar'"). Progress (phase "restore"): with `total`, the source's
  // size, the bytes sent of it; else the file data written, of
  // `logical_total` if known. Files: the entries written.
  ChildSession(sys::Subprocess proc, std::string what, std::optional<uint64_t> bwlimit,
               std::optional<uint64_t> total, Observer* observer,
               std::optional<uint64_t> logical_total = std::nullopt);
  ~ChildSession();
  ChildSession(const ChildSession&) = delete;
  ChildSession& operator=(const ChildSession&) = delete;

  // Sends all of `data` (or drops it once the child stopped reading).
  // Fails only when interrupted or on an unexpected pipe error.
  Status Write(const void* data, size_t size);

  // The child closed its stdin (exited or gave up).
  bool closed() const { return closed_; }

  // Ends the input, reads the remaining reports, waits for the child, and
  // returns its statistics or its error.
  Result<ExtractStats> Finish();

 private:
  Status PollOnce(bool want_write, std::chrono::nanoseconds timeout, bool* writable);
  void ReadReports();
  void MaybeReportProgress(bool force);

  sys::Subprocess proc_;
  std::string what_;
  std::optional<sys::TokenBucket> bucket_;
  std::optional<uint64_t> total_;
  std::optional<uint64_t> logical_total_;
  Observer* observer_;
  ReportCollector reports_;
  bool closed_ = false;
  bool stderr_eof_ = false;
  int signals_before_ = 0;
  uint64_t sent_ = 0;
  std::chrono::steady_clock::time_point last_progress_;
  sigset_t saved_mask_;
  bool sigpipe_was_pending_ = false;
};

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_CHILD_SESSION_H_
