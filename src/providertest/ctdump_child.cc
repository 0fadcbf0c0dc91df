#include "providertest/ctdump_child.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::providertest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kGrace = std::chrono::seconds(30);

// Reads what is there; false at EOF or error.
bool Drain(int fd, std::string* into) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  into->append(buf, static_cast<size_t>(n));
  return true;
}

}  // namespace

nlohmann::json ChildResult::Terminal() const {
  return events.empty() ? nlohmann::json() : events.back();
}

nlohmann::json ChildResult::Data() const {
  nlohmann::json t = Terminal();
  if (t.is_object() && t.value("event", "") == "result" && t.contains("data")) return t["data"];
  return nlohmann::json();
}

std::vector<std::string> ChildResult::Logs(const std::string& level) const {
  std::vector<std::string> out;
  for (const auto& e : events)
    if (e.value("event", "") == "log" && e.value("level", "") == level)
      out.push_back(e.value("message", ""));
  return out;
}

std::string ChildResult::Why() const {
  std::string cmd = argv.size() > 1 ? argv[1] : "ctdump";
  if (timed_out) return fmt::format("ctdump {} timed out", cmd);
  if (interrupted) return fmt::format("ctdump {} interrupted", cmd);
  nlohmann::json t = Terminal();
  if (t.is_object() && t.value("event", "") == "error") return t.value("message", "");
  if (t.is_object() && t.value("event", "") == "job-end") {
    if (t.contains("error") && t["error"].is_string()) return t["error"].get<std::string>();
    for (const auto& g : t.value("guests", nlohmann::json::array()))
      if (!g.value("ok", true) && g.contains("error")) return g["error"].get<std::string>();
  }
  auto errs = Logs("err");
  if (!errs.empty()) return errs.back();
  std::string s = stderr_text;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  auto nl = s.rfind('\n');
  if (!s.empty()) return nl == std::string::npos ? s : s.substr(nl + 1);
  return fmt::format("ctdump {} exited with {}", cmd, exit_code);
}

Result<ChildResult> RunCtdump(const ChildOptions& o, const std::vector<std::string>& args) {
  ChildResult r;
  r.argv = {o.exe, "--lxcpath", o.lxcpath, "--config-dir", o.config_dir, "--output-format", "json"};
  r.argv.insert(r.argv.end(), args.begin(), args.end());
  sys::SpawnOptions so;
  so.argv = r.argv;
  so.pipe_stdout = so.pipe_stderr = true;
  so.new_session = true;
  auto start = Clock::now();
  ASSIGN_OR_RETURN(auto child, sys::Spawn(so));
  std::string out, err;
  bool out_open = true, err_open = true;
  auto deadline = start + std::chrono::seconds(o.timeout_s);
  std::optional<Clock::time_point> kill_at;
  while (out_open || err_open) {
    pollfd fds[2] = {{out_open ? child.stdout_fd().get() : -1, POLLIN, 0},
                     {err_open ? child.stderr_fd().get() : -1, POLLIN, 0}};
    int n = ::poll(fds, 2, 200);
    if (n < 0 && errno != EINTR) return ErrnoError(errno, "poll");
    if (n > 0) {
      if (fds[0].revents) out_open = Drain(fds[0].fd, &out);
      if (fds[1].revents) err_open = Drain(fds[1].fd, &err);
    }
    if (o.on_wait && !kill_at) o.on_wait(child.pid());
    auto now = Clock::now();
    if (!kill_at) {
      bool late = now > deadline;
      bool signalled = sys::InterruptCount() > o.interrupt_baseline;
      if (late || signalled) {
        r.timed_out = late;
        r.interrupted = !late;
        ::kill(-child.pid(), SIGTERM);
        kill_at = now + kGrace;
      }
    } else if (now > *kill_at) {
      child.KillAndReap();
      break;
    }
  }
  if (child.running()) {
    ASSIGN_OR_RETURN(int status, child.Wait());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.stderr_text = std::move(err);
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    std::string line = out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? out.size() : nl + 1;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) r.events.push_back(std::move(j));
  }
  return r;
}

}  // namespace ctdump::providertest
