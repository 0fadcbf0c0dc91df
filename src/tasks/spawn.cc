#include "tasks/spawn.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "sys/subprocess.h"

namespace ctdump::tasks {
namespace {

constexpr size_t kStderrTail = 2048;

std::vector<std::string> Environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  for (const auto& kv : extra) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string key = kv.substr(0, eq + 1);
    std::erase_if(env, [&](const std::string& s) { return s.starts_with(key); });
    env.push_back(kv);
  }
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

std::string Tail(const std::string& err) {
  std::string t = err.size() > kStderrTail ? err.substr(err.size() - kStderrTail) : err;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

}  // namespace

Result<Upid> SpawnTask(const SpawnTaskOptions& o) {
  RETURN_IF_ERROR(CheckTaskType(o.type));
  RETURN_IF_ERROR(CheckTaskId(o.id));
  RETURN_IF_ERROR(CheckTaskUser(o.user));
  if (o.command.empty()) return InvalidArgumentError("task without a command");
  std::vector<std::string> args = {o.program};
  args.insert(args.end(), o.global_args.begin(), o.global_args.end());
  args.insert(args.end(), {"__task", "--type", o.type, "--user", o.user});
  if (!o.id.empty()) args.insert(args.end(), {"--id", o.id});
  for (const std::string& note : o.notes) args.insert(args.end(), {"--note", note});
  args.push_back("--");
  args.insert(args.end(), o.command.begin(), o.command.end());
  std::vector<std::string> env = Environment(o.extra_env);
  // Prepared before the fork: the child only calls async-signal-safe functions.
  std::vector<char*> argv = Pointers(args), envp = Pointers(env);

  sys::SpawnOptions so;
  so.argv = {o.program};
  so.pipe_stdout = true;  // becomes the report pipe at fd 3 below
  so.pipe_stderr = true;
  so.new_session = true;
  sys::SpawnHooks hooks;
  // Spawn passes only 0, 1 and 2 to `run`: the report pipe arrives as stdout
  // and moves to fd 3; stdout becomes /dev/null until the worker's log.
  hooks.run = [&argv, &envp]() -> int {
    if (::dup2(1, 3) < 0) return 126;
    int null = ::open("/dev/null", O_WRONLY);
    if (null < 0 || ::dup2(null, 1) < 0) return 126;
    if (null != 1) ::close(null);
    ::execve(argv[0], argv.data(), envp.data());
    return 127;
  };
  ASSIGN_OR_RETURN(sys::Subprocess proc, sys::Spawn(so, &hooks));

  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  std::string report, err;
  bool report_open = true, err_open = true;
  while (report_open && report.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return DeadlineExceededError(
          fmt::format("the task worker did not report its UPID within {} ms{}", o.timeout.count(),
                      err.empty() ? "" : ": " + Tail(err)));
    pollfd fds[2] = {{proc.stdout_fd().get(), POLLIN, 0},
                     {err_open ? proc.stderr_fd().get() : -1, POLLIN, 0}};
    int r = ::poll(fds, 2, static_cast<int>(left.count()));
    if (r < 0 && errno != EINTR) return ErrnoError(errno, "Failed to wait for the task worker");
    char buf[4096];
    if (fds[0].revents) {
      ssize_t n = ::read(fds[0].fd, buf, sizeof(buf));
      if (n > 0) report.append(buf, static_cast<size_t>(n));
      if (n == 0) report_open = false;
    }
    if (err_open && fds[1].revents) {
      ssize_t n = ::read(fds[1].fd, buf, sizeof(buf));
      if (n > 0) err.append(buf, static_cast<size_t>(n));
      if (n == 0) err_open = false;
    }
  }
  size_t nl = report.find('\n');
  if (nl == std::string::npos) {
    // The launcher exits with the worker's status when the worker died first.
    auto st = proc.WaitFor(std::chrono::seconds(5));
    std::string how = st.ok() && st->has_value() ? sys::DescribeWaitStatus(**st) : "ended";
    // What it wrote on stderr before dying (the launcher's stderr closes
    // with it).
    for (int i = 0; err_open && i < 50; ++i) {
      pollfd p = {proc.stderr_fd().get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(p.fd, buf, sizeof(buf));
      if (n > 0) err.append(buf, static_cast<size_t>(n));
      if (n <= 0) err_open = false;
    }
    std::string tail = Tail(err);
    return InternalError(fmt::format("the task worker {} before reporting its UPID{}", how,
                                     tail.empty() ? "" : ": " + tail));
  }
  ASSIGN_OR_RETURN(Upid upid, DecodeUpid(report.substr(0, nl)));
  // The launcher exits right after the report; the worker is not ours.
  auto st = proc.WaitFor(std::chrono::seconds(5));
  if (!st.ok() || !st->has_value()) proc.KillAndReap();
  return upid;
}

}  // namespace ctdump::tasks
