#include "extract/child_session.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>

#include "sys/signals.h"

namespace ctdump::extract {
namespace {

using Clock = std::chrono::steady_clock;

// poll() returns EINTR on a signal; the bound covers a signal that arrives
// between the check and the call.
constexpr std::chrono::milliseconds kMaxPollWait(250);
constexpr std::chrono::milliseconds kProgressInterval(500);
constexpr int kPipeSize = 1 << 20;

void SetNonBlocking(int fd) {
  if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

bool SigpipePending() {
  sigset_t pending;
  sigemptyset(&pending);
  ::sigpending(&pending);
  return sigismember(&pending, SIGPIPE) == 1;
}

}  // namespace

ChildSession::ChildSession(sys::Subprocess proc, std::string what, std::optional<uint64_t> bwlimit,
                           std::optional<uint64_t> total, Observer* observer,
                           std::optional<uint64_t> logical_total)
    : proc_(std::move(proc)),
      what_(std::move(what)),
      total_(total),
      logical_total_(logical_total),
      observer_(observer),
      reports_(observer),
      signals_before_(sys::InterruptCount()),
      last_progress_(Clock::now()) {
  if (bwlimit && *bwlimit > 0) bucket_.emplace(*bwlimit, Clock::now());
  // A write to a child that exited must fail with EPIPE, not kill ctdump.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigpipe_was_pending_ = SigpipePending();
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &saved_mask_);
  ::fcntl(proc_.stdin_fd().get(), F_SETPIPE_SZ, kPipeSize);  // fewer wake-ups; best effort
  SetNonBlocking(proc_.stdin_fd().get());
  SetNonBlocking(proc_.stderr_fd().get());
}

ChildSession::~ChildSession() {
  proc_.KillAndReap();
  if (!sigpipe_was_pending_ && SigpipePending()) {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    timespec zero{0, 0};
    ::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
}

Status ChildSession::PollOnce(bool want_write, std::chrono::nanoseconds timeout, bool* writable) {
  *writable = false;
  pollfd fds[2];
  nfds_t n = 0;
  int write_idx = -1, read_idx = -1;
  if (want_write && proc_.stdin_fd().valid()) {
    write_idx = static_cast<int>(n);
    fds[n++] = {proc_.stdin_fd().get(), POLLOUT, 0};
  }
  if (!stderr_eof_) {
    read_idx = static_cast<int>(n);
    fds[n++] = {proc_.stderr_fd().get(), POLLIN, 0};
  }
  if (timeout < std::chrono::nanoseconds(0) || timeout > kMaxPollWait) timeout = kMaxPollWait;
  timespec ts{static_cast<time_t>(timeout.count() / 1000000000),
              static_cast<long>(timeout.count() % 1000000000)};
  int r = ::ppoll(fds, n, &ts, nullptr);
  if (sys::InterruptCount() != signals_before_) {
    proc_.KillAndReap();
    return CancelledError(fmt::format("extracting {}: interrupted by signal", what_));
  }
  if (r < 0) {
    if (errno == EINTR) return Status::OK();
    return ErrnoError(errno, fmt::format("extracting {}: poll", what_));
  }
  if (read_idx >= 0 && fds[read_idx].revents != 0) ReadReports();
  if (write_idx >= 0 && fds[write_idx].revents != 0) *writable = true;
  return Status::OK();
}

void ChildSession::ReadReports() {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(proc_.stderr_fd().get(), buf, sizeof(buf));
    if (n > 0) {
      reports_.Feed(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) stderr_eof_ = true;
    return;
  }
}

void ChildSession::MaybeReportProgress(bool force) {
  if (!observer_) return;
  auto now = Clock::now();
  if (!force && now - last_progress_ < kProgressInterval) return;
  last_progress_ = now;
  Progress p;
  p.phase = "restore";
  p.files = reports_.entries();
  if (total_) {
    p.bytes = sent_;
    p.total_bytes = total_;
  } else {
    p.bytes = reports_.bytes();
    p.total_bytes = logical_total_;
  }
  observer_->OnProgress(p);
}

Status ChildSession::Write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0 && !closed_) {
    size_t chunk = size;
    std::chrono::nanoseconds timeout(-1);
    if (bucket_) {
      auto now = Clock::now();
      chunk = bucket_->Allowance(size, now);
      if (chunk == 0) timeout = bucket_->Delay(size, now);
    }
    bool writable = false;
    RETURN_IF_ERROR(PollOnce(chunk > 0, timeout, &writable));
    if (!writable) continue;
    ssize_t n = ::write(proc_.stdin_fd().get(), p, chunk);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      if (errno != EPIPE) return ErrnoError(errno, fmt::format("extracting {}: write", what_));
      closed_ = true;  // the child exited; Finish() tells why
      proc_.stdin_fd().Reset();
      break;
    }
    if (bucket_) bucket_->Consume(static_cast<uint64_t>(n));
    p += n;
    size -= static_cast<size_t>(n);
    sent_ += static_cast<uint64_t>(n);
    MaybeReportProgress(false);
  }
  return Status::OK();
}

Result<ExtractStats> ChildSession::Finish() {
  proc_.stdin_fd().Reset();
  closed_ = true;
  while (!stderr_eof_) {
    bool writable = false;
    RETURN_IF_ERROR(PollOnce(false, kMaxPollWait, &writable));
  }
  reports_.Finish();
  ASSIGN_OR_RETURN(int wait_status, proc_.Wait());
  MaybeReportProgress(true);
  RETURN_IF_ERROR(ChildStatus(wait_status, reports_.errors(), what_, reports_.last_other()));
  auto stats = reports_.stats();
  if (!stats)
    return InternalError(
        fmt::format("extracting {}: the extraction process reported no totals", what_));
  return *stats;
}

}  // namespace ctdump::extract
