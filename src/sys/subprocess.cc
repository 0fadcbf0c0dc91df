#include "sys/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "sys/file.h"
#include "sys/signals.h"

extern char** environ;

namespace ctdump::sys {

Subprocess::Subprocess(Subprocess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      group_(o.group_),
      pidfd_(std::move(o.pidfd_)),
      stdin_(std::move(o.stdin_)),
      stdout_(std::move(o.stdout_)),
      stderr_(std::move(o.stderr_)) {}

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    KillAndReap();
    pid_ = std::exchange(o.pid_, -1);
    group_ = o.group_;
    pidfd_ = std::move(o.pidfd_);
    stdin_ = std::move(o.stdin_);
    stdout_ = std::move(o.stdout_);
    stderr_ = std::move(o.stderr_);
  }
  return *this;
}

Subprocess::~Subprocess() { KillAndReap(); }

void Subprocess::Kill(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

void Subprocess::KillAndReap() {
  if (pid_ <= 0) return;
  if (group_) ::kill(-pid_, SIGKILL);  // the provider's own children too
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

Result<int> Subprocess::Wait() {
  if (pid_ <= 0) return FailedPreconditionError("Wait: no child process");
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0) {
    if (errno != EINTR) return ErrnoError(errno, fmt::format("waitpid({})", pid_));
  }
  pid_ = -1;
  return st;
}

Result<std::optional<int>> Subprocess::WaitFor(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return FailedPreconditionError("WaitFor: no child process");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return std::optional<int>(st);
    }
    if (r < 0 && errno != EINTR) return ErrnoError(errno, fmt::format("waitpid({})", pid_));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::optional<int>();
    if (pidfd_.valid()) {
      pollfd pfd{pidfd_.get(), POLLIN, 0};
      ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    } else {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(5)));
    }
  }
}

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exited with code {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(st), ::strsignal(WTERMSIG(st)));
  return fmt::format("ended with wait status {:#x}", st);
}

bool ExitedOk(int st) { return WIFEXITED(st) && WEXITSTATUS(st) == 0; }

bool ProcessAlive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

namespace {

// What the child reports through the CLOEXEC error pipe when exec fails.
struct ChildError {
  int err;
  char stage[64];
};

constexpr size_t kMaxPassFds = 64;

[[noreturn]] void ChildFail(int fd, int err, const char* stage) {
  ChildError ce{};
  ce.err = err;
  ::strncpy(ce.stage, stage, sizeof(ce.stage) - 1);
  [[maybe_unused]] ssize_t n = ::write(fd, &ce, sizeof(ce));
  ::_exit(127);
}

// Prepared before fork: no allocation in the child.
struct ExecPlan {
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

ExecPlan MakePlan(const SpawnOptions& o) {
  ExecPlan p;
  if (o.env) {
    p.env_storage = *o.env;
  } else {
    for (char** e = environ; *e; ++e) p.env_storage.emplace_back(*e);
  }
  for (const auto& kv : o.extra_env) {
    if (kv.find('=') == std::string::npos) continue;
    auto key = kv.substr(0, kv.find('=') + 1);
    std::erase_if(p.env_storage, [&](const std::string& s) { return s.rfind(key, 0) == 0; });
    p.env_storage.push_back(kv);
  }
  for (const auto& a : o.argv) p.argv.push_back(const_cast<char*>(a.c_str()));
  p.argv.push_back(nullptr);
  for (auto& e : p.env_storage) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  return p;
}

}  // namespace

Result<Subprocess> Spawn(const SpawnOptions& o, const SpawnHooks* hooks) {
  if (o.argv.empty()) return InvalidArgumentError("Spawn: empty argv");
  if (o.pass_fds.size() > kMaxPassFds || (hooks && hooks->run && !o.pass_fds.empty()))
    return InvalidArgumentError("Spawn: pass_fds: at most 64, and only to an exec'd program");
  UniqueFd in[2], out[2], err[2], report[2];
  if (o.pipe_stdin) RETURN_IF_ERROR(MakePipe(in));
  if (o.pipe_stdout) RETURN_IF_ERROR(MakePipe(out));
  if (o.pipe_stderr) RETURN_IF_ERROR(MakePipe(err));
  RETURN_IF_ERROR(MakePipe(report));
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoError(errno, "Failed to open /dev/null");
  ExecPlan plan = MakePlan(o);
  pid_t parent_pid = ::getpid();

  // Block signals across fork: ctdump's handlers must not run in the child
  // before it restored the default dispositions.
  sigset_t all, saved;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, &saved);
  pid_t pid = ::fork();
  if (pid == 0) {
    int rfd = report[1].get();
    for (int sig = 1; sig < NSIG; ++sig)
      if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Die with ctdump, also while waiting in the hooks below.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent_pid) ::_exit(127);
    if (o.new_session) ::setsid();
    int stdin_src = o.pipe_stdin ? in[0].get() : devnull.get();
    if (::dup2(stdin_src, 0) < 0) ChildFail(rfd, errno, "dup2 stdin");
    if (o.pipe_stdout && ::dup2(out[1].get(), 1) < 0) ChildFail(rfd, errno, "dup2 stdout");
    if (o.pipe_stderr && ::dup2(err[1].get(), 2) < 0) ChildFail(rfd, errno, "dup2 stderr");
    if (hooks && hooks->child) {
      const char* stage = "namespace setup";
      int e = hooks->child(&stage);
      if (e != 0) ChildFail(rfd, e, stage);
    }
    // Credential changes clear the parent-death signal: set it again.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent_pid) ::_exit(127);
    if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) ChildFail(rfd, errno, "chdir");
    if (hooks && hooks->run) {
      // Set-up done: closing everything (the report pipe too) tells the parent.
      ::close_range(3, ~0U, 0);
      ::_exit(hooks->run());
    }
    // No inherited descriptor reaches the program (the worker runs as
    // container root) but pass_fds, moved to 3, 4, ...: first all out of
    // the way (the report pipe too, which closes on exec), then into place.
    const int npass = static_cast<int>(o.pass_fds.size());
    if (npass > 0) {
      int moved[kMaxPassFds];
      rfd = ::fcntl(rfd, F_DUPFD_CLOEXEC, 3 + npass);
      if (rfd < 0) ::_exit(127);
      for (int i = 0; i < npass; ++i)
        if ((moved[i] = ::fcntl(o.pass_fds[i], F_DUPFD_CLOEXEC, 3 + npass)) < 0)
          ChildFail(rfd, errno, "passing descriptors");
      for (int i = 0; i < npass; ++i)
        if (::dup2(moved[i], 3 + i) < 0) ChildFail(rfd, errno, "passing descriptors");
    }
    ::close_range(3 + npass, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execvpe(plan.argv[0], plan.argv.data(), plan.envp.data());
    ChildFail(rfd, errno, "exec");
  }
  int fork_errno = errno;
  ::sigprocmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) return ErrnoError(fork_errno, fmt::format("Failed to fork for \"{}\"", o.argv[0]));

  Subprocess proc;
  proc.pid_ = pid;
  proc.group_ = o.new_session;
  proc.pidfd_.Reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  report[1].Reset();
  if (hooks && hooks->parent) {
    Status s = hooks->parent(pid);
    if (!s.ok()) return s;  // ~Subprocess kills and reaps the child
  }
  ChildError ce{};
  ssize_t n;
  do {
    n = ::read(report[0].get(), &ce, sizeof(ce));
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(ce))) {
    ce.stage[sizeof(ce.stage) - 1] = '\0';
    Status s = ErrnoError(ce.err, fmt::format("Failed to start \"{}\" ({})", o.argv[0], ce.stage));
    proc.KillAndReap();
    return s;
  }
  if (o.pipe_stdin) proc.stdin_ = std::move(in[1]);
  if (o.pipe_stdout) proc.stdout_ = std::move(out[0]);
  if (o.pipe_stderr) proc.stderr_ = std::move(err[0]);
  return proc;
}

Result<RunResult> RunCommand(const SpawnOptions& options,
                             const std::function<void(const std::string&)>& on_line) {
  SpawnOptions o = options;
  o.pipe_stdout = false;
  o.pipe_stderr = false;
  o.new_session = true;
  UniqueFd p[2];
  RETURN_IF_ERROR(MakePipe(p));
  SpawnHooks hooks;
  int wfd = p[1].get();
  hooks.child = [wfd](const char** stage) -> int {
    *stage = "dup2 output";
    if (::dup2(wfd, 1) < 0 || ::dup2(wfd, 2) < 0) return errno;
    return 0;
  };
  ASSIGN_OR_RETURN(Subprocess proc, Spawn(o, &hooks));
  p[1].Reset();
  ::fcntl(p[0].get(), F_SETFL, O_NONBLOCK);
  const int signals_before = InterruptCount();
  RunResult r;
  std::string line;
  auto flush_lines = [&](bool all) {
    size_t nl;
    while ((nl = line.find('\n')) != std::string::npos) {
      if (on_line) on_line(line.substr(0, nl));
      line.erase(0, nl + 1);
    }
    if (all && !line.empty()) {
      if (on_line) on_line(line);
      line.clear();
    }
  };
  std::optional<int> status;
  bool open = true;
  std::chrono::steady_clock::time_point exited_at{};
  while (open) {
    // The self-pipe stays readable once a signal came: after an earlier
    // one (a job-abort hook runs after the interruption) it would wake the
    // poll at once, forever. A new signal is then seen within the timeout.
    pollfd fds[3] = {{p[0].get(), POLLIN, 0},
                     {proc.pidfd(), POLLIN, 0},
                     {signals_before == 0 ? InterruptFd() : -1, POLLIN, 0}};
    ::poll(fds, 3, status ? 50 : 1000);
    if (InterruptCount() != signals_before) {
      proc.KillAndReap();
      return CancelledError("interrupted by signal");
    }
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(p[0].get(), buf, sizeof(buf));
      if (n > 0) {
        r.output.append(buf, static_cast<size_t>(n));
        line.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) open = false;
      break;
    }
    flush_lines(false);
    if (!status) {
      auto w = proc.WaitFor(std::chrono::milliseconds(0));
      if (!w.ok()) return w.status();
      if (w->has_value()) {
        status = **w;
        exited_at = std::chrono::steady_clock::now();
      }
    } else if (std::chrono::steady_clock::now() - exited_at > std::chrono::milliseconds(200)) {
      break;  // exited; a background child may hold the pipe: stop reading
    }
  }
  flush_lines(true);
  if (!status) {
    ASSIGN_OR_RETURN(r.wait_status, proc.Wait());
  } else {
    r.wait_status = *status;
  }
  return r;
}

}  // namespace ctdump::sys
