#include "tasks/worker.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

#include "sys/file.h"
#include "tasks/task_status.h"

namespace ctdump::tasks {
namespace {

constexpr char kReadyByte = 'k';

int ExitCodeOfWait(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 1;
}

std::string StatusOf(const TaskOutcome& o) {
  if (o.error) {
    std::string first = o.error->substr(0, o.error->find('\n'));
    return first.empty() ? "unknown error" : first;
  }
  if (o.warnings > 0) return fmt::format("WARNINGS: {}", o.warnings);
  return "OK";
}

}  // namespace

std::string FinalLine(const TaskOutcome& outcome) {
  if (outcome.error) return "TASK ERROR: " + StatusOf(outcome);
  return "TASK " + StatusOf(outcome);
}

int InheritedReportFd() {
  struct stat st;
  int fl = ::fcntl(kReportFd, F_GETFL), fd_flags = ::fcntl(kReportFd, F_GETFD);
  // Inherited across exec: no FD_CLOEXEC (ctdump opens everything with it).
  if (fl < 0 || fd_flags < 0 || (fd_flags & FD_CLOEXEC) || (fl & O_ACCMODE) != O_WRONLY ||
      ::fstat(kReportFd, &st) != 0 || !S_ISFIFO(st.st_mode))
    return -1;
  return kReportFd;
}

Result<Detached> DetachWorker(int report_fd) {
  sys::UniqueFd ready[2];
  RETURN_IF_ERROR(sys::MakePipe(ready));
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError(errno, "Failed to fork the task worker");
  Detached d;
  if (pid == 0) {
    ready[0].Reset();
    // A session of its own: the worker leads its process group (abort
    // signals the group) and no terminal or spawner group reaches it.
    if (::setsid() < 0) return ErrnoError(errno, "Failed to start a session for the task worker");
    d.worker = true;
    d.ready = std::move(ready[1]);
    return d;
  }
  ready[1].Reset();
  if (report_fd >= 0) ::close(report_fd);
  // The interrupt self-pipe (sys/signals.h) is shared with the worker: a
  // signal handled here would wake the worker's poll loops for nothing.
  sigset_t block;
  sigemptyset(&block);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
  ::sigprocmask(SIG_BLOCK, &block, nullptr);
  char c = 0;
  ssize_t n;
  do {
    n = ::read(ready[0].get(), &c, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1 && c == kReadyByte) return d;  // started: the worker goes on alone
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return ErrnoError(errno, "Failed to wait for the task worker");
  }
  d.exit_code = ExitCodeOfWait(st);
  if (d.exit_code == 0) d.exit_code = 1;  // it ended without starting the task
  return d;
}

Result<Worker> Worker::Start(const WorkerOptions& o, sys::UniqueFd ready) {
  Upid upid;
  upid.node = o.node.empty() ? ShortHostname() : o.node;
  upid.type = o.type;
  upid.id = o.id;
  upid.user = o.user;
  upid.pid = static_cast<uint32_t>(::getpid());
  ASSIGN_OR_RETURN(upid.pstart, ProcessStartTime(::getpid()));
  upid.starttime = static_cast<uint32_t>(::time(nullptr));
  RETURN_IF_ERROR(CheckUpid(upid));

  TaskDir dir(o.log_dir);
  RETURN_IF_ERROR(dir.Prepare());
  ASSIGN_OR_RETURN(sys::UniqueFd log, dir.CreateLog(upid));
  std::string log_path = dir.LogPath(upid);
  Status s = dir.AddActive(upid);
  if (!s.ok()) {
    ::unlink(log_path.c_str());
    return s;
  }
  // From here on everything the subcommand prints is the task's log. Line
  // buffering keeps stdout's lines in order with stderr's.
  std::fflush(stdout);
  std::fflush(stderr);
  if (::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0) {
    s = ErrnoError(errno, "Failed to redirect output to the task log");
    ::unlink(dir.ActivePath(upid).c_str());
    ::unlink(log_path.c_str());
    return s;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (o.report_fd >= 0) {
    // A spawner that died meanwhile does not stop the task: it is listed.
    sys::WriteAll(o.report_fd, EncodeUpid(upid) + "\n", "the task spawner's pipe").IgnoreError();
    ::close(o.report_fd);
  }
  if (ready.valid()) {
    sys::WriteAll(ready.get(), std::string_view(&kReadyByte, 1), "the launcher's pipe")
        .IgnoreError();
    ready.Reset();
  }
  return Worker(std::move(dir), std::move(upid), std::move(log_path), std::move(log));
}

Status Worker::Finish(const TaskOutcome& outcome) {
  if (!log_.valid()) return FailedPreconditionError("task already finished");
  std::fflush(stdout);
  std::fflush(stderr);
  std::string line = FinalLine(outcome) + "\n";
  struct stat st;
  char last = '\n';
  if (::fstat(log_.get(), &st) == 0 && st.st_size > 0 &&
      ::pread(log_.get(), &last, 1, st.st_size - 1) != 1)
    last = '\n';
  // The final line must be a line of its own for the status readers.
  if (last != '\n') line.insert(0, "\n");
  Status w = sys::WriteAll(log_.get(), line, log_path_);
  log_.Reset();
  RETURN_IF_ERROR(w);
  std::string status = StatusOf(outcome);
  return dir_.Finish(upid_, static_cast<uint32_t>(::time(nullptr)), status);
}

}  // namespace ctdump::tasks
