#include "providertest/fault_shim.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "sys/file.h"
#include "sys/subprocess.h"

namespace ctdump::providertest {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

void Note(const std::string& message) {
  std::string line = "ctdump __provider-fault: " + message + "\n";
  sys::WriteAll(2, line, "stderr").IgnoreError();
}

bool Named(const std::vector<std::string>& methods, std::string_view method) {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

// State and process group of a process from /proc/<pid>/stat, or false.
bool StatOf(const std::string& pid, char* state, pid_t* pgrp) {
  auto text = sys::ReadFile("/proc/" + pid + "/stat");
  if (!text.ok()) return false;
  auto paren = text->rfind(')');  // the command name may hold anything
  if (paren == std::string::npos) return false;
  int ppid = 0, pg = 0;
  if (std::sscanf(text->c_str() + paren + 1, " %c %d %d", state, &ppid, &pg) != 3) return false;
  *pgrp = pg;
  return true;
}

// SIGKILLs every live process of process group `pgrp` but this one, until
// none is left (a process may fork meanwhile); at most about a second.
void KillGroupButMe(pid_t pgrp) {
  const pid_t me = ::getpid();
  for (int round = 0; round < 50; ++round) {
    int found = 0;
    std::error_code ec;
    for (const auto& d : std::filesystem::directory_iterator("/proc", ec)) {
      std::string name = d.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      pid_t pid = static_cast<pid_t>(std::stol(name));
      char state = 0;
      pid_t pg = 0;
      if (pid == me || !StatOf(name, &state, &pg) || pg != pgrp) continue;
      if (state == 'Z' || state == 'X') continue;
      ::kill(pid, SIGKILL);
      ++found;
    }
    if (found == 0) return;
    ::usleep(20000);
  }
}

class Relay {
 public:
  explicit Relay(const FaultShimOptions& o) : o_(o) {}

  int Run() {
    if (!Start()) return 127;
    std::optional<Clock::time_point> stdin_closed_at;
    for (;;) {
      if (!provider_out_open_ && !hanging_) break;
      if (stdin_closed_at && hanging_ && Clock::now() - *stdin_closed_at > kHangLimit) {
        Note(fmt::format("still hanging {} s after ctdump closed the input; giving up",
                         kHangLimit.count()));
        KillProvider();
        return 1;
      }
      pollfd fds[2] = {{stdin_open_ ? 0 : -1, POLLIN, 0},
                       {provider_out_open_ ? provider_.stdout_fd().get() : -1, POLLIN, 0}};
      if (::poll(fds, 2, 1000) < 0 && errno != EINTR) {
        Note(fmt::format("poll: {}", ::strerror(errno)));
        KillProvider();
        return 1;
      }
      if (fds[0].revents) ReadLines(0, &in_buf_, &stdin_open_, &Relay::OnRequestLine);
      if (fds[1].revents)
        ReadLines(provider_.stdout_fd().get(), &out_buf_, &provider_out_open_,
                  &Relay::OnProviderLine);
      if (!stdin_open_ && !stdin_closed_at) {
        stdin_closed_at = Clock::now();
        // ctdump is done (shutdown or abort): the provider sees it too.
        if (!hanging_) provider_.stdin_fd().Reset();
      }
    }
    // The provider closed its output: so does the shim, then it ends as the
    // provider does.
    if (!out_buf_.empty()) ToCtdump(std::exchange(out_buf_, std::string()));
    ::close(1);
    auto st = provider_.Wait();
    if (!st.ok()) return 1;
    if (WIFEXITED(*st)) return WEXITSTATUS(*st);
    return WIFSIGNALED(*st) ? 128 + WTERMSIG(*st) : 1;
  }

 private:
  bool Start() {
    if (o_.command.empty()) {
      Note("no provider command given");
      return false;
    }
    if (!o_.record.empty()) {
      record_.Reset(::open(o_.record.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
      if (!record_.valid())
        Note(fmt::format("cannot open the record file \"{}\": {}", o_.record, ::strerror(errno)));
    }
    sys::SpawnOptions so;
    so.argv = o_.command;
    so.pipe_stdin = so.pipe_stdout = true;
    // Sharing the shim's group is only right when the shim leads one: else a
    // crash's group kill would hit whoever started the shim.
    shared_group_ = ::getpgrp() == ::getpid();
    sys::SpawnHooks own_group;
    own_group.child = [](const char** stage) {
      *stage = "setpgid";
      return ::setpgid(0, 0) == 0 ? 0 : errno;
    };
    auto p = sys::Spawn(so, shared_group_ ? nullptr : &own_group);
    if (!p.ok()) {
      Note(p.status().message());
      return false;
    }
    provider_ = std::move(*p);
    return true;
  }

  using LineHandler = void (Relay::*)(std::string line);

  // Reads what `fd` has and hands each complete line to `handle`.
  void ReadLines(int fd, std::string* buf, bool* open, LineHandler handle) {
    char chunk[65536];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      *open = false;
      return;
    }
    buf->append(chunk, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf->find('\n')) != std::string::npos) {
      std::string line = buf->substr(0, nl);
      buf->erase(0, nl + 1);
      (this->*handle)(std::move(line));
    }
  }

  void OnRequestLine(std::string line) {
    if (hanging_) return;  // read and dropped
    json msg = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (msg.is_object() && msg.contains("id") && msg.contains("method") &&
        msg["method"].is_string()) {
      const std::string method = msg["method"];
      Record(method, msg.contains("params") ? msg["params"] : json());
      switch (Decide(method)) {
        case Fault::kCrash:
          Note(fmt::format("crash at '{}': killing the provider, exit {}", method, kCrashExitCode));
          KillProvider();
          ::_exit(kCrashExitCode);
        case Fault::kHang:
          Note(fmt::format("hang at '{}': no more answers", method));
          ToProvider(line);
          hanging_ = true;
          out_buf_.clear();
          return;
        case Fault::kGarbage:
          garbage_id_ = msg["id"];
          break;
        case Fault::kNone:
          break;
      }
    }
    ToProvider(line);
  }

  void OnProviderLine(std::string line) {
    if (hanging_) return;
    if (garbage_id_) {
      json msg = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (msg.is_object() && !msg.contains("method") && msg.contains("id") &&
          msg["id"] == *garbage_id_) {
        Note(fmt::format("garbage instead of the answer to request {}", garbage_id_->dump()));
        garbage_id_.reset();
        line = kGarbageLine;
      }
    }
    ToCtdump(line);
  }

  Fault Decide(const std::string& method) {
    Fault f = FaultFor(o_, method);
    if (f == Fault::kNone || o_.once.empty()) return f;
    sys::UniqueFd fd(::open(o_.once.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666));
    if (!fd.valid()) {
      Note(fmt::format("cannot open \"{}\" ({}): faulting anyway", o_.once, ::strerror(errno)));
      return f;
    }
    while (::flock(fd.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
    struct stat st;
    if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) return Fault::kNone;  // fired before
    sys::WriteAll(fd.get(), method + "\n", o_.once).IgnoreError();
    return f;
  }

  void Record(const std::string& method, const json& params) {
    if (!record_.valid()) return;
    std::string line;
    try {
      line = RecordLine(method, params.dump());
    } catch (const json::exception&) {
      line = RecordLine(method, "\"(not UTF-8)\"");
    }
    sys::WriteAll(record_.get(), line + "\n", o_.record).IgnoreError();
  }

  void KillProvider() {
    if (!provider_.running()) return;
    if (shared_group_)
      KillGroupButMe(::getpgrp());
    else
      ::kill(-provider_.pid(), SIGKILL);
    provider_.KillAndReap();
  }

  void ToCtdump(const std::string& line) {
    if (!stdout_ok_) return;
    if (!sys::WriteAll(1, line + "\n", "stdout").ok()) stdout_ok_ = false;  // ctdump went away
  }

  void ToProvider(const std::string& line) {
    if (!provider_.stdin_fd().valid()) return;
    // A provider that went away shows as the end of its output.
    if (!sys::WriteAll(provider_.stdin_fd().get(), line + "\n", "the provider's stdin").ok())
      provider_.stdin_fd().Reset();
  }

  const FaultShimOptions& o_;
  sys::Subprocess provider_;
  bool shared_group_ = false;
  sys::UniqueFd record_;
  bool hanging_ = false;
  std::optional<json> garbage_id_;  // the request whose answer becomes garbage
  std::string in_buf_, out_buf_;
  bool stdin_open_ = true, provider_out_open_ = true, stdout_ok_ = true;
};

}  // namespace

Fault FaultFor(const FaultShimOptions& o, std::string_view method) {
  if (Named(o.crash, method)) return Fault::kCrash;
  if (Named(o.hang, method)) return Fault::kHang;
  if (Named(o.garbage, method)) return Fault::kGarbage;
  return Fault::kNone;
}

std::string RecordLine(std::string_view method, const std::string& params_json) {
  return fmt::format("{} {}", method, params_json);
}

int RunFaultShim(const FaultShimOptions& options) {
  // ctdump's handlers turn these into a flag; the shim simply dies (its
  // provider follows: the parent-death signal Spawn sets).
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  Relay relay(options);
  return relay.Run();
}

}  // namespace ctdump::providertest
