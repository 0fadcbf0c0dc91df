// The worker's side of a task: `ctdump __task` (cli/cmd_task.cc) calls
// DetachWorker, then Worker::Start, runs the subcommand in the same process,
// and ends with Worker::Finish.
//
// Start-up, with the spawner (spawn.h) waiting on the pipe at fd 3:
//
//   spawner ── fork+exec, setsid ──► launcher (`ctdump __task ...`)
//                                      │ DetachWorker: fork, setsid
//                                      ▼
//                                    worker: UPID from getpid(), pstart, time()
//                                      log O_EXCL (0640) → active/<UPID>
//                                      stdout + stderr → the log
//   spawner ◄── "UPID:...:\n" on fd 3 ─┘ (fd 3 closed), then "ready" to the launcher
//   launcher exits 0 (or with the worker's exit status when it died before)
//
// The worker is a grandchild of the spawner in a session of its own: it is
// nobody's Subprocess to kill, no parent-death signal reaches it, and it
// outlives the daemon. The end appends the final line ("TASK OK", "TASK
// WARNINGS: <n>", "TASK ERROR: <message>"), then the index line, and removes
// active/<UPID>.
#ifndef CTDUMP_TASKS_WORKER_H_
#define CTDUMP_TASKS_WORKER_H_

#include <optional>
#include <string>

#include "ctdump/status.h"
#include "sys/unique_fd.h"
#include "tasks/task_dir.h"
#include "tasks/upid.h"

namespace ctdump::tasks {

// The spawner's pipe in the worker.
inline constexpr int kReportFd = 3;

// kReportFd when it is what a spawner passes (an inherited write end of a
// pipe), else -1: `__task` run by hand must not write to, or close, a
// descriptor ctdump opened itself at 3 (the interrupt self-pipe).
int InheritedReportFd();

struct Detached {
  bool worker = false;  // true in the worker, false in the launcher
  int exit_code = 0;    // launcher: what to exit with
  sys::UniqueFd ready;  // worker: the launcher's pipe, for Worker::Start
};

// Forks the worker off the launcher; call while no other thread runs. In the
// worker (its own session) it returns {worker = true, ready}; in the launcher,
// once the worker reported its UPID or died, {worker = false, exit_code}: 0,
// or the worker's exit code (128 + signal when killed). The launcher closes
// its copy of `report_fd`.
Result<Detached> DetachWorker(int report_fd = kReportFd);

struct WorkerOptions {
  std::string log_dir;         // the directory holding tasks/ (backup::Paths::log_dir)
  std::string type, id, user;  // checked: CheckTaskType, CheckTaskId, CheckTaskUser
  std::string node;            // empty: ShortHostname()
  int report_fd = kReportFd;   // where the UPID line goes (closed after); -1: nowhere
};

// How the subcommand ended.
struct TaskOutcome {
  int warnings = 0;
  std::optional<std::string> error;  // the terminal error; only its first line is kept
};

// "TASK OK", "TASK WARNINGS: <n>" or "TASK ERROR: <first line of error>" (an
// empty error reads "unknown error").
std::string FinalLine(const TaskOutcome& outcome);

class Worker {
 public:
  Worker(Worker&&) = default;
  Worker& operator=(Worker&&) = default;

  // The worker's start (the diagram above). On error nothing is left behind
  // (no log, no active entry) and stdout/stderr are unchanged, so the error
  // reaches the spawner. `ready` (may be invalid) gets one byte and is closed
  // after the UPID line was written.
  static Result<Worker> Start(const WorkerOptions& options, sys::UniqueFd ready);

  const Upid& upid() const { return upid_; }
  const std::string& log_path() const { return log_path_; }

  // The end: flushes stdio, appends FinalLine (on a line of its own), the
  // index line with the end time, removes active/<UPID>. Once.
  Status Finish(const TaskOutcome& outcome);

 private:
  Worker(TaskDir dir, Upid upid, std::string log_path, sys::UniqueFd log)
      : dir_(std::move(dir)),
        upid_(std::move(upid)),
        log_path_(std::move(log_path)),
        log_(std::move(log)) {}

  TaskDir dir_;
  Upid upid_;
  std::string log_path_;
  sys::UniqueFd log_;
};

}  // namespace ctdump::tasks

#endif  // CTDUMP_TASKS_WORKER_H_
