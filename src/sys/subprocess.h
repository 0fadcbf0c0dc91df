// Child processes: spawn with pipes, wait with a deadline, kill and reap.
//
// A Subprocess that is destroyed while its child still runs kills the child
// with SIGKILL and reaps it, so no code path leaks a process. Process control
// (fork, wait, signals, namespaces) happens on ctdump's main thread only. A
// forked child is single-threaded whatever its parent runs, so it may call
// unshare(CLONE_NEWUSER); but children that run ctdump's code without exec
// (the providers' workers, the extraction child) must be forked while no
// other thread runs, or a lock another thread held (the allocator's) stays
// held in the child: thread pools start their threads with their first task
// (sys/thread_pool.h), the datastore's feeder thread and libzstd's workers
// start after the fork. All I/O with children is poll()-based.
#ifndef CTDUMP_SYS_SUBPROCESS_H_
#define CTDUMP_SYS_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/status.h"
#include "sys/unique_fd.h"

namespace ctdump::sys {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the program; searched in PATH if it has no '/'
  // Full environment of the child; nullopt inherits ctdump's environment.
  std::optional<std::vector<std::string>> env;
  // Extra variables added to the (inherited or given) environment, "KEY=VALUE".
  std::vector<std::string> extra_env;
  std::string cwd;           // empty: inherit
  bool pipe_stdin = false;   // else /dev/null
  bool pipe_stdout = false;  // else inherited
  bool pipe_stderr = false;  // else inherited
  // setsid(): signals to ctdump's terminal group do not reach it, and killing
  // the Subprocess kills its whole process group (the provider's tar, ...).
  bool new_session = false;
  // Descriptors the program gets as 3, 4, ... in this order (the API
  // server's proxy: its control socket and listening sockets); every other
  // descriptor of ctdump's stays closed to it. Only for an exec'd program
  // (not with SpawnHooks::run).
  std::vector<int> pass_fds;
};

// Namespace and credential set-up around fork, used by the userns module.
// `child` runs in the forked child before exec and must only use
// async-signal-safe calls; it returns 0 or an errno and sets *stage to a static
// string naming the step that failed. `parent` runs in the parent right after
// fork, while the child waits in `child`.
struct SpawnHooks {
  std::function<int(const char** stage)> child;
  std::function<Status(pid_t pid)> parent;
  // When set, the child runs this instead of exec'ing argv and exits with its
  // result; every descriptor but 0, 1 and 2 is closed first (a forked copy
  // must not keep ctdump's locks or pipes alive).
  std::function<int()> run;
};

class Subprocess {
 public:
  Subprocess() = default;
  Subprocess(Subprocess&&) noexcept;
  Subprocess& operator=(Subprocess&&) noexcept;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Whether the child leads its own process group (SpawnOptions::new_session).
  bool leads_group() const { return group_; }
  UniqueFd& stdin_fd() { return stdin_; }
  UniqueFd& stdout_fd() { return stdout_; }
  UniqueFd& stderr_fd() { return stderr_; }

  // Waits for the child to exit; returns the raw wait status.
  Result<int> Wait();
  // Waits up to `timeout`; nullopt when the child is still running.
  Result<std::optional<int>> WaitFor(std::chrono::milliseconds timeout);
  // A pidfd that polls readable once the child exited (-1 if unsupported).
  int pidfd() const { return pidfd_.get(); }
  // Sends `sig` (no-op once reaped).
  void Kill(int sig);
  // SIGKILL + reap; idempotent.
  void KillAndReap();

 private:
  friend Result<Subprocess> Spawn(const SpawnOptions&, const SpawnHooks*);
  pid_t pid_ = -1;
  bool group_ = false;  // the child leads its own process group
  UniqueFd pidfd_;
  UniqueFd stdin_, stdout_, stderr_;
};

Result<Subprocess> Spawn(const SpawnOptions& options, const SpawnHooks* hooks = nullptr);

// "exited with code 3" / "was killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);
// True for a normal exit with code 0.
bool ExitedOk(int wait_status);

// Whether a process with this pid exists on this host (kill(pid, 0); EPERM
// counts: it exists, it is not ours). False for pid <= 0.
bool ProcessAlive(pid_t pid);

// Runs a command to completion with stdout and stderr merged, handing each
// output line to `on_line` as it arrives (for hook scripts). Runs in its own
// process group; a SIGINT/SIGTERM to ctdump kills the group and returns
// Cancelled. Output is no longer read once the command has exited (a
// background child keeping the pipe open cannot block ctdump).
struct RunResult {
  int wait_status = 0;
  std::string output;  // everything, also when on_line is set
};
Result<RunResult> RunCommand(const SpawnOptions& options,
                             const std::function<void(const std::string&)>& on_line = nullptr);

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_SUBPROCESS_H_
