#include "server/daemon.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

#include "channel/control.h"
#include "sys/fd_passing.h"
#include "sys/subprocess.h"
#include "sys/thread_pool.h"

namespace ctdump::server {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

void Log(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

Status Errno(const std::string& what) { return ErrnoError(errno, what); }

// The proxy's lifecycle: started, watched through its pidfd, restarted.
class ProxySupervisor {
 public:
  ProxySupervisor(const DaemonOptions& o, const std::vector<int>& listen_fds)
      : o_(o), listen_fds_(listen_fds) {}

  // Starts a proxy with a fresh control socket; our end in control().
  Status Start() {
    ASSIGN_OR_RETURN(sys::SocketPair pair, sys::MakeSocketPair(SOCK_SEQPACKET));
    sys::SpawnOptions so;
    so.argv = o_.proxy_command;
    so.argv.push_back("--listen-fds");
    so.argv.push_back(std::to_string(listen_fds_.size()));
    so.pass_fds.push_back(pair.second.get());
    so.pass_fds.insert(so.pass_fds.end(), listen_fds_.begin(), listen_fds_.end());
    ASSIGN_OR_RETURN(proc_, sys::Spawn(so));
    control_ = std::move(pair.first);
    started_ = Clock::now();
    return Status::OK();
  }

  // Kills the proxy (it may be gone already) and plans the next start.
  void Failed(const std::string& why) {
    Log(fmt::format("API proxy {}: restarting it", why));
    Stop();
    bool soon = Clock::now() - started_ < 60s;
    delay_ = soon ? std::min(delay_ * 2, std::chrono::milliseconds(30s)) : 1000ms;
    restart_at_ = Clock::now() + delay_;
  }

  void Stop() {
    control_.Reset();
    if (proc_.running()) {
      proc_.Kill(SIGTERM);
      auto st = proc_.WaitFor(2000ms);
      if (!st.ok() || !st->has_value()) proc_.KillAndReap();
    }
    restart_at_.reset();
  }

  // A Start() after a failure is due: the poll timeout until then.
  int PollTimeoutMs() const {
    if (!restart_at_) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*restart_at_ - Clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  }
  bool RestartDue() const { return restart_at_ && Clock::now() >= *restart_at_; }
  void Restarted() { restart_at_.reset(); }

  int control() const { return control_.get(); }
  int pidfd() const { return proc_.running() ? proc_.pidfd() : -1; }
  // Reaps a proxy that exited; its status for the log.
  std::string Reap() {
    auto st = proc_.WaitFor(0ms);
    if (st.ok() && st->has_value()) return sys::DescribeWaitStatus(**st);
    return "ended";
  }

 private:
  const DaemonOptions& o_;
  const std::vector<int>& listen_fds_;
  sys::Subprocess proc_;
  sys::UniqueFd control_;
  Clock::time_point started_{};
  std::chrono::milliseconds delay_{500};
  std::optional<Clock::time_point> restart_at_;
};

}  // namespace

Result<sys::UniqueFd> Listen(const std::string& address) {
  size_t colon = address.rfind(':');
  auto bad = [&address] {
    return InvalidArgumentError(fmt::format(
        "'{}' is not a listen address: give ADDR:PORT ([::]:8007, 127.0.0.1:8007, *:8007)",
        address));
  };
  if (colon == std::string::npos || colon + 1 == address.size()) return bad();
  std::string host = address.substr(0, colon), port_text = address.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5)
    return bad();
  int port = std::stoi(port_text);
  if (port > 65535) return bad();
  bool v6 = host == "*" || (host.size() >= 2 && host.front() == '[' && host.back() == ']');
  if (v6 && host != "*") host = host.substr(1, host.size() - 2);
  if (host == "*") host = "::";
  struct sockaddr_storage ss = {};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<struct sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) return bad();
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<struct sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) return bad();
    len = sizeof(*a);
  }
  sys::UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Errno(fmt::format("Failed to open a socket for {}", address));
  int one = 1, zero = 0;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // [::] serves IPv4 too (the default [::]:8007 is dual stack, as pveproxy).
  if (v6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&ss), len) != 0)
    return Errno(fmt::format("Failed to listen on {}", address));
  if (::listen(fd.get(), 128) != 0) return Errno(fmt::format("Failed to listen on {}", address));
  return fd;
}

Result<int> BoundPort(int fd) {
  struct sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len) != 0)
    return Errno("getsockname");
  if (ss.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
}

Status RunDaemon(const DaemonOptions& o, const ChannelHandler& handler,
                 const std::function<void(const std::vector<int>&)>& ready) {
  if (o.proxy_command.empty()) return InvalidArgumentError("the API daemon needs a proxy command");
  std::vector<sys::UniqueFd> listeners;
  std::vector<int> listen_fds, ports;
  for (const auto& a : o.listen) {
    ASSIGN_OR_RETURN(sys::UniqueFd fd, Listen(a));
    ASSIGN_OR_RETURN(int port, BoundPort(fd.get()));
    listen_fds.push_back(fd.get());
    ports.push_back(port);
    listeners.push_back(std::move(fd));
  }
  // Signals through a signalfd, blocked before the pool's threads exist
  // (they inherit the mask; children reset it).
  sigset_t mask, saved;
  sigemptyset(&mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
  ::pthread_sigmask(SIG_BLOCK, &mask, &saved);
  sys::UniqueFd sigfd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd.valid()) return Errno("signalfd");

  ProxySupervisor proxy(o, listen_fds);
  RETURN_IF_ERROR(proxy.Start().WithContext("starting the API proxy"));
  if (ready) ready(ports);

  std::atomic<size_t> open_channels{0};
  sys::ThreadPool pool(o.request_threads);
  bool stop = false;
  while (!stop) {
    struct pollfd fds[3] = {
        {sigfd.get(), POLLIN, 0}, {proxy.control(), POLLIN, 0}, {proxy.pidfd(), POLLIN, 0}};
    int n = ::poll(fds, 3, proxy.PollTimeoutMs());
    if (n < 0 && errno != EINTR) return Errno("poll");
    if (proxy.RestartDue()) {
      proxy.Restarted();
      Status s = proxy.Start();
      if (!s.ok()) proxy.Failed("could not start (" + s.message() + ")");
      continue;
    }
    if (n <= 0) continue;
    if (fds[0].revents) {
      struct signalfd_siginfo si;
      while (::read(sigfd.get(), &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
          Log("SIGHUP: restarting the API proxy (re-reading the certificate)");
          proxy.Stop();
          Status s = proxy.Start();
          if (!s.ok()) proxy.Failed("could not start (" + s.message() + ")");
        } else {
          stop = true;
        }
      }
      continue;
    }
    if (fds[2].revents) {
      proxy.Failed("exited (" + proxy.Reap() + ")");
      continue;
    }
    if (fds[1].revents) {
      auto r = channel::ReceiveControl(proxy.control());
      if (!r.ok()) {
        proxy.Failed(r.status().code() == Code::kUnavailable
                         ? std::string("closed its control socket")
                         : "sent a bad control message (" + r.status().message() + ")");
        continue;
      }
      if (r->message.type != channel::ControlType::kOpen || r->fd.valid()) {
        proxy.Failed("sent a control message that only the privileged part sends");
        continue;
      }
      uint32_t id = r->message.request_id;
      if (open_channels.load() >= o.max_channels) {
        if (!channel::SendRefuse(proxy.control(), id, 503).ok())
          proxy.Failed("closed its control socket");
        continue;
      }
      auto pair = sys::MakeSocketPair(SOCK_STREAM);
      if (!pair.ok()) {
        Log("API: " + pair.status().message());
        (void)channel::SendRefuse(proxy.control(), id, 503);
        continue;
      }
      if (!channel::SendGrant(proxy.control(), id, pair->second.get()).ok()) {
        proxy.Failed("closed its control socket");
        continue;
      }
      ++open_channels;
      auto fd = std::make_shared<sys::UniqueFd>(std::move(pair->first));
      pool.Submit([fd, &handler, &open_channels] {
        handler(fd->get());
        fd->Reset();
        --open_channels;
      });
    }
  }
  proxy.Stop();
  pool.Wait();
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return Status::OK();
}

}  // namespace ctdump::server
