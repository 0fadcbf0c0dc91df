#include "container/container.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <linux/close_range.h>
#include <lxc/lxccontainer.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "sys/file.h"
#include "sys/signals.h"
#include "sys/unique_fd.h"

namespace ctdump::container {
namespace {

int g_host_mnt_ns = -1;

State ParseState(const char* s) {
  if (!s) return State::kUnknown;
  std::string_view v(s);
  if (v == "STOPPED") return State::kStopped;
  if (v == "STARTING") return State::kStarting;
  if (v == "RUNNING") return State::kRunning;
  if (v == "STOPPING") return State::kStopping;
  if (v == "ABORTING") return State::kAborting;
  if (v == "FREEZING") return State::kFreezing;
  if (v == "FROZEN") return State::kFrozen;
  if (v == "THAWED") return State::kThawed;
  return State::kUnknown;
}

// In a child forked (all signals blocked) to start or enter a container:
// default signal dispositions, an empty mask, the host's mount namespace (so
// the container never sees the job's private mounts); exits 2 when that
// namespace cannot be entered.
void EnterHostNamespaceInChild() {
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (g_host_mnt_ns >= 0 && ::setns(g_host_mnt_ns, CLONE_NEWNS) != 0) ::_exit(2);
}

}  // namespace

Opener& LxcOpener() {
  class LxcContainers : public Opener {
   public:
    Result<std::unique_ptr<Control>> Open(const std::string& name,
                                          const std::string& lxcpath) override {
      ASSIGN_OR_RETURN(auto ct, Container::Open(name, lxcpath));
      return std::unique_ptr<Control>(std::make_unique<Container>(std::move(ct)));
    }
  };
  static LxcContainers opener;
  return opener;
}

void RememberHostMountNamespace() {
  if (g_host_mnt_ns < 0) g_host_mnt_ns = ::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
}

Container::Container(std::string name, std::string lxcpath, lxc_container* c)
    : name_(std::move(name)), lxcpath_(std::move(lxcpath)), c_(c) {}

Container::Container(Container&& o) noexcept
    : name_(std::move(o.name_)),
      lxcpath_(std::move(o.lxcpath_)),
      c_(std::exchange(o.c_, nullptr)) {}

Container& Container::operator=(Container&& o) noexcept {
  if (this != &o) {
    if (c_) lxc_container_put(c_);
    name_ = std::move(o.name_);
    lxcpath_ = std::move(o.lxcpath_);
    c_ = std::exchange(o.c_, nullptr);
  }
  return *this;
}

Container::~Container() {
  if (c_) lxc_container_put(c_);
}

Result<Container> Container::Open(const std::string& name, const std::string& lxcpath) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return InvalidArgumentError(fmt::format("invalid container name '{}'", name));
  lxc_container* c = lxc_container_new(name.c_str(), lxcpath.c_str());
  if (!c) return InternalError(fmt::format("liblxc failed to open container '{}'", name));
  if (!c->is_defined(c)) {
    lxc_container_put(c);
    return NotFoundError(
        fmt::format("container '{}' does not exist in lxcpath \"{}\"", name, lxcpath));
  }
  return Container(name, lxcpath, c);
}

State Container::GetState() const {
  State s = ParseState(c_->state(c_));
  // liblxc's state comes from its monitor, which does not notice a freezer
  // written directly (as Freeze() does): the cgroup is the truth.
  if (s == State::kRunning || s == State::kFrozen || s == State::kThawed || s == State::kFreezing) {
    auto path = FreezerStatePath();
    if (path.ok()) {
      bool v2 = path->ends_with("cgroup.freeze");
      auto text = sys::ReadFile(v2 ? path->substr(0, path->rfind('/')) + "/cgroup.events" : *path);
      if (text.ok()) {
        bool frozen = v2 ? text->find("frozen 1") != std::string::npos
                         : text->rfind("FROZEN", 0) == 0 || text->rfind("FREEZING", 0) == 0;
        return frozen ? State::kFrozen : State::kRunning;
      }
    }
  }
  return s;
}

bool Container::IsRunning() const { return c_->is_running(c_); }

pid_t Container::InitPid() const { return c_->init_pid(c_); }

Status Container::Shutdown(std::chrono::seconds timeout) {
  if (GetState() == State::kFrozen) RETURN_IF_ERROR(Thaw());
  if (!IsRunning()) return Status::OK();
  // Ask (SIGPWR to init) without waiting inside liblxc, then poll: a
  // SIGINT/SIGTERM to ctdump ends the wait instead of being ignored for up to
  // stopwait minutes.
  c_->shutdown(c_, 0);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (IsRunning()) {
    if (sys::InterruptSignal() != 0) {
      // Let a shutdown in progress finish briefly, so the restart that
      // follows finds a stopped container.
      c_->wait(c_, "STOPPED", 10);
      return CancelledError("interrupted by signal");
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return DeadlineExceededError(
          fmt::format("container '{}' did not stop within {} s", name_, timeout.count()));
    c_->wait(c_, "STOPPED", 1);
  }
  return Status::OK();
}

Status Container::Start(std::chrono::seconds timeout) {
  if (IsRunning()) return Status::OK();
  // Start from a child that re-enters the host's mount namespace, so the
  // container and its monitor never see the job's private mounts.
  sigset_t all, saved;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, &saved);
  pid_t pid = ::fork();
  if (pid == 0) {
    // The container inherits what this child has: default signal dispositions
    // (ctdump ignores SIGPIPE), an empty mask, none of ctdump's descriptors.
    EnterHostNamespaceInChild();
    ::close_range(3, ~0U, 0);
    lxc_container* c = lxc_container_new(name_.c_str(), lxcpath_.c_str());
    if (!c) ::_exit(3);
    c->want_daemonize(c, true);
    c->want_close_all_fds(c, true);
    bool ok = c->start(c, 0, nullptr);
    ::_exit(ok ? 0 : 1);
  }
  int fork_errno = errno;
  ::sigprocmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) return ErrnoError(fork_errno, "fork");
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    return IOError(fmt::format(
        "failed to start container '{}' (see its LXC log{})", name_,
        WIFEXITED(st) && WEXITSTATUS(st) == 2 ? "; could not enter the host mount namespace" : ""));
  }
  if (!c_->wait(c_, "RUNNING", static_cast<int>(timeout.count())))
    return DeadlineExceededError(
        fmt::format("container '{}' did not reach RUNNING within {} s", name_, timeout.count()));
  return Status::OK();
}

Result<std::string> Container::FreezerStatePath() const {
  pid_t pid = InitPid();
  if (pid <= 0) return FailedPreconditionError(fmt::format("container '{}' is not running", name_));
  ASSIGN_OR_RETURN(std::string cg, sys::ReadFile(fmt::format("/proc/{}/cgroup", pid)));
  std::istringstream in(cg);
  std::string line, unified;
  while (std::getline(in, line)) {
    // "7:freezer:/lxc.payload.c1" (v1) or "0::/lxc.payload.c1" (v2)
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    // systemd inside the container moves init into a child (init.scope):
    // freeze the container's payload cgroup, not init's.
    auto payload = path.find("/lxc.payload.");
    if (payload != std::string::npos) {
      auto end = path.find('/', payload + 1);
      if (end != std::string::npos) path.resize(end);
    }
    if (ctrls == "freezer") return "/sys/fs/cgroup/freezer" + path + "/freezer.state";
    if (ctrls.empty()) unified = path;
  }
  for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    std::string p = std::string(root) + unified + "/cgroup.freeze";
    if (!unified.empty() && sys::PathExists(p)) return p;
  }
  return FailedPreconditionError(fmt::format("no freezer cgroup found for container '{}'", name_));
}

static Status WriteSmall(const std::string& path, const std::string& v) {
  sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  return sys::WriteAll(fd.get(), v, fmt::format("\"{}\"", path));
}

// For a freeze that does not finish: the container's tasks with their state
// and where they wait (a task in uninterruptible sleep, "D", holds off the
// cgroup v2 freezer until its I/O completes).
static std::string DescribeTasks(const std::string& cgroup_dir) {
  std::vector<std::string> out;
  std::vector<std::string> dirs{cgroup_dir};
  while (!dirs.empty() && out.size() < 12) {
    std::string dir = dirs.back();
    dirs.pop_back();
    auto tids = sys::ReadFile(dir + "/cgroup.threads");
    if (!tids.ok()) tids = sys::ReadFile(dir + "/tasks");  // v1
    std::istringstream in(tids.ok() ? *tids : std::string());
    std::string tid;
    while (in >> tid && out.size() < 12) {
      auto stat = sys::ReadFile("/proc/" + tid + "/stat");
      auto wchan = sys::ReadFile("/proc/" + tid + "/wchan");
      if (!stat.ok()) continue;
      // "pid (comm) S ...": comm may hold spaces and parentheses.
      auto close = stat->rfind(')');
      auto open = stat->find('(');
      if (close == std::string::npos || open == std::string::npos || close + 2 >= stat->size())
        continue;
      out.push_back(fmt::format("{} {} {} {}", tid, stat->substr(open, close - open + 1),
                                (*stat)[close + 2], wchan.ok() && !wchan->empty() ? *wchan : "-"));
    }
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.is_directory(ec)) dirs.push_back(e.path().string());
  }
  return out.empty() ? "no tasks found"
                     : fmt::format("tasks (tid comm state wchan): {}", fmt::join(out, "; "));
}

// A cgroup can stay "freezing" for good when the request races a fork or an
// exec inside it (a task left in "D" at kernel_clone; runc and LXC report the
// same): thawing and freezing again gets it through. Measured here with a
// fork loop in the cgroup: 5 of 600 freezes stuck, each through at the first
// retry. Attempts wait 1 s, 2 s, 4 s... so a freeze that is merely slow
// still completes; after kTotal the container is thawed and the tasks named.
Status Container::Freeze(int* attempts) {
  constexpr auto kTotal = std::chrono::seconds(30);
  ASSIGN_OR_RETURN(std::string path, FreezerStatePath());
  bool v2 = path.ends_with("cgroup.freeze");
  std::string dir = path.substr(0, path.rfind('/'));
  auto frozen = [&] {
    if (v2) {
      auto ev = sys::ReadFile(dir + "/cgroup.events");
      return ev.ok() && ev->find("frozen 1") != std::string::npos;
    }
    auto st = sys::ReadFile(path);
    return st.ok() && st->rfind("FROZEN", 0) == 0;
  };
  auto start = std::chrono::steady_clock::now();
  for (int attempt = 1;; attempt++) {
    if (attempts) *attempts = attempt;
    RETURN_IF_ERROR(WriteSmall(path, v2 ? "1" : "FROZEN"));
    auto wait = std::chrono::seconds(1) * (1 << std::min(attempt - 1, 5));
    auto until = std::min(std::chrono::steady_clock::now() + wait, start + kTotal);
    while (std::chrono::steady_clock::now() < until) {
      if (frozen()) return Status::OK();
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    if (frozen()) return Status::OK();
    bool last = std::chrono::steady_clock::now() >= start + kTotal;
    std::string tasks = last ? DescribeTasks(dir) : std::string();
    RETURN_IF_ERROR(WriteSmall(path, v2 ? "0" : "THAWED"));
    if (last)
      return DeadlineExceededError(fmt::format(
          "container '{}' did not freeze within 30 s ({} attempts); {}", name_, attempt, tasks));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Status Container::Thaw() {
  ASSIGN_OR_RETURN(std::string path, FreezerStatePath());
  return WriteSmall(path, path.ends_with("cgroup.freeze") ? "0" : "THAWED");
}

}  // namespace ctdump::container

namespace ctdump::container {

void RemoveLxcLockFiles(const std::string& name, const std::string& lxcpath) {
  if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') return;
  // liblxc: <rundir>/lxc/lock/<lxcpath>/.<name> (root's rundir is /run).
  std::string dir = "/run/lxc/lock/" + lxcpath;
  ::unlink((dir + "/." + name).c_str());
  ::rmdir((dir + "/" + name).c_str());
}

Status Container::Stop(std::chrono::seconds timeout) {
  if (!IsRunning()) return Status::OK();
  if (GetState() == State::kFrozen) Thaw().IgnoreError();  // a frozen init cannot be killed
  if (!c_->stop(c_) && IsRunning())
    return IOError(fmt::format("failed to stop container '{}'", name_));
  if (!c_->wait(c_, "STOPPED", static_cast<int>(timeout.count())) && IsRunning())
    return DeadlineExceededError(
        fmt::format("container '{}' did not stop within {} s", name_, timeout.count()));
  return Status::OK();
}

Result<CommandResult> Container::RunCommand(const std::vector<std::string>& argv,
                                            std::chrono::seconds timeout, size_t max_output) {
  if (argv.empty()) return InvalidArgumentError("no command to run");
  if (!IsRunning())
    return FailedPreconditionError(fmt::format("container '{}' is not running", name_));
  int out[2], status[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  sys::UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(status, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  sys::UniqueFd status_r(status[0]), status_w(status[1]);
  sigset_t all, saved;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, &saved);
  pid_t pid = ::fork();
  if (pid == 0) {
    EnterHostNamespaceInChild();
    // The output pipe as 3, the status pipe as 4, nothing else of ctdump's.
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || ::dup2(out_w.get(), 100) < 0 || ::dup2(status_w.get(), 101) < 0 ||
        ::dup2(100, 3) < 0 || ::dup2(101, 4) < 0 || ::dup2(null, 0) < 0)
      ::_exit(3);
    ::close_range(5, ~0U, 0);
    lxc_container* c = lxc_container_new(name_.c_str(), lxcpath_.c_str());
    if (!c) ::_exit(3);
    lxc_attach_options_t o = LXC_ATTACH_OPTIONS_DEFAULT;
    o.env_policy = LXC_ATTACH_CLEAR_ENV;
    char path_env[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char home_env[] = "HOME=/root";
    char* env[] = {path_env, home_env, nullptr};
    o.extra_env_vars = env;
    o.stdin_fd = 0;
    o.stdout_fd = 3;
    o.stderr_fd = 3;
    o.initial_cwd = const_cast<char*>("/");
    std::vector<const char*> args;
    for (const auto& a : argv) args.push_back(a.c_str());
    args.push_back(nullptr);
    int st = c->attach_run_wait(c, &o, args[0], args.data());
    ssize_t w = ::write(4, &st, sizeof(st));
    ::_exit(w == sizeof(st) ? 0 : 4);
  }
  int fork_errno = errno;
  ::sigprocmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) return ErrnoError(fork_errno, "fork");
  out_w.Reset();
  status_w.Reset();
  ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
  auto reap = [pid](bool kill) {
    if (kill) ::kill(pid, SIGKILL);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
  };
  CommandResult r;
  auto drain = [&] {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(out_r.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return n == 0;  // EOF
      size_t room = max_output > r.output.size() ? max_output - r.output.size() : 0;
      if (static_cast<size_t>(n) > room) r.output_truncated = true;
      r.output.append(buf, std::min(room, static_cast<size_t>(n)));
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int signals_before = sys::InterruptCount();
  int raw = 0;
  bool have_status = false, out_open = true;
  while (!have_status) {
    if (sys::InterruptCount() != signals_before) {
      reap(true);
      return CancelledError("interrupted by signal");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      reap(true);
      drain();
      return DeadlineExceededError(fmt::format("'{}' in container '{}' did not finish within {} s",
                                               fmt::join(argv, " "), name_, timeout.count()));
    }
    pollfd fds[3] = {{status_r.get(), POLLIN, 0},
                     {out_open ? out_r.get() : -1, POLLIN, 0},
                     {sys::InterruptFd(), POLLIN, 0}};
    int n = ::poll(fds, 3, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) {
      int e = errno;
      reap(true);
      return ErrnoError(e, "poll");
    }
    if (out_open && fds[1].revents) out_open = !drain();
    if (fds[0].revents) {
      ssize_t got = ::read(status_r.get(), &raw, sizeof(raw));
      if (got < 0 && errno == EINTR) continue;
      if (got != sizeof(raw)) {
        int st = reap(false);
        return IOError(fmt::format("failed to attach to container '{}' (helper {})", name_,
                                   WIFEXITED(st) && WEXITSTATUS(st) == 2
                                       ? "could not enter the host mount namespace"
                                       : "ended early"));
      }
      have_status = true;
    }
  }
  reap(false);
  // What the command wrote before it ended; a daemon it left behind may
  // keep the pipe open, so only what is there now.
  drain();
  if (raw < 0) return IOError(fmt::format("failed to attach to container '{}'", name_));
  if (WIFEXITED(raw)) {
    r.exit_code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    r.exit_code = 128 + WTERMSIG(raw);
  }
  return r;
}

Status Container::WaitForInit(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int signals_before = sys::InterruptCount();
  Status last = FailedPreconditionError(fmt::format("container '{}' is not running", name_));
  for (;;) {
    if (sys::InterruptCount() != signals_before) return CancelledError("interrupted by signal");
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline -
                                                                 std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (GetState() == State::kRunning) {
      pid_t pid = InitPid();
      if (pid > 0 && ::kill(pid, 0) == 0) {
        auto r = RunCommand({"/bin/sh", "-c", "true"}, std::min(left, std::chrono::seconds(30)));
        if (r.ok() && r->exit_code == 0) return Status::OK();
        last =
            r.ok()
                ? IOError(fmt::format("'/bin/sh -c true' in container '{}' exited with {}{}", name_,
                                      r->exit_code, r->output.empty() ? "" : ": " + r->output))
                : r.status();
        if (r.status().code() == Code::kCancelled) return r.status();
      } else {
        last = FailedPreconditionError(fmt::format("container '{}' has no init process", name_));
      }
    } else {
      last = FailedPreconditionError(fmt::format("container '{}' is not running", name_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return DeadlineExceededError(fmt::format("container '{}' was not ready within {} s: {}", name_,
                                           timeout.count(), last.message()));
}

Status Container::Destroy() {
  if (IsRunning())
    return FailedPreconditionError(fmt::format("container '{}' is still running", name_));
  if (!c_->destroy(c_))
    return IOError(fmt::format("liblxc failed to destroy container '{}'", name_));
  return Status::OK();
}

}  // namespace ctdump::container
