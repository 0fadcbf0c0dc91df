#include "sys/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include "sys/file.h"

extern char** environ;

namespace ctdump::sys {

Subprocess::Subprocess(Subprocess&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      stdin_(std::move(o.stdin_)),
      stdout_(std::move(o.stdout_)),
      stderr_(std::move(o.stderr_)) {}

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    KillAndReap();
    pid_ = std::exchange(o.pid_, -1);
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
  auto step = std::chrono::milliseconds(1);
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return std::optional<int>(st);
    }
    if (r < 0 && errno != EINTR) return ErrnoError(errno, fmt::format("waitpid({})", pid_));
    if (std::chrono::steady_clock::now() >= deadline) return std::optional<int>();
    std::this_thread::sleep_for(step);
    if (step < std::chrono::milliseconds(50)) step *= 2;
  }
}

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exited with code {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(st), ::strsignal(WTERMSIG(st)));
  return fmt::format("ended with wait status {:#x}", st);
}

bool ExitedOk(int st) { return WIFEXITED(st) && WEXITSTATUS(st) == 0; }

namespace {

// What the child reports through the CLOEXEC error pipe when exec fails.
struct ChildError {
  int err;
  char stage[64];
};

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
  UniqueFd in[2], out[2], err[2], report[2];
  if (o.pipe_stdin) RETURN_IF_ERROR(MakePipe(in));
  if (o.pipe_stdout) RETURN_IF_ERROR(MakePipe(out));
  if (o.pipe_stderr) RETURN_IF_ERROR(MakePipe(err));
  RETURN_IF_ERROR(MakePipe(report));
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull.valid()) return ErrnoError(errno, "Failed to open /dev/null");
  ExecPlan plan = MakePlan(o);
  pid_t parent_pid = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError(errno, fmt::format("Failed to fork for \"{}\"", o.argv[0]));
  if (pid == 0) {
    int rfd = report[1].get();
    // Restore default signal dispositions and an empty mask for the new program.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
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
    // Die with ctdump: set after any credential change, which clears it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent_pid) ::_exit(127);
    if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) ChildFail(rfd, errno, "chdir");
    ::execvpe(plan.argv[0], plan.argv.data(), plan.envp.data());
    ChildFail(rfd, errno, "exec");
  }

  Subprocess proc;
  proc.pid_ = pid;
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

Result<RunResult> RunCommand(const SpawnOptions& options) {
  SpawnOptions o = options;
  o.pipe_stdout = true;
  o.pipe_stderr = false;
  // Merge stderr into stdout by spawning with stderr inherited from the pipe.
  UniqueFd p[2];
  RETURN_IF_ERROR(MakePipe(p));
  SpawnHooks hooks;
  int wfd = p[1].get();
  hooks.child = [wfd](const char** stage) -> int {
    *stage = "dup2 output";
    if (::dup2(wfd, 1) < 0 || ::dup2(wfd, 2) < 0) return errno;
    return 0;
  };
  o.pipe_stdout = false;
  ASSIGN_OR_RETURN(Subprocess proc, Spawn(o, &hooks));
  p[1].Reset();
  RunResult r;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(p[0].get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.output.append(buf, static_cast<size_t>(n));
  }
  ASSIGN_OR_RETURN(r.wait_status, proc.Wait());
  return r;
}

}  // namespace ctdump::sys
