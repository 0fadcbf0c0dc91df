// `ctdump serve`'s privileged part (docs/design/api-server.md §1): it binds
// the listening sockets, starts the network-facing proxy (`ctdump __proxy`,
// confined) with them and one end of the control socket, grants the proxy a
// fresh channel per request and runs the request on a pool thread, and
// restarts the proxy when it dies.
//
// Main thread: a poll loop over the control socket, a signalfd (SIGTERM and
// SIGINT stop, SIGHUP restarts the proxy so that it re-reads the
// certificate) and the proxy's pidfd. Everything that forks runs here.
// Request threads only read their channel, call the handler and write the
// answer, with the channel's deadlines (channel/channel_format.h).
//
// The proxy is restarted 1 s after it died, the delay doubling up to 30 s
// while it keeps dying within 60 s of its start. A control message that is
// not a well-formed open request is a protocol error: the proxy is killed
// and restarted (it is buggy or compromised). At most 64 channels are open
// at once; beyond that the proxy is told 503.
#ifndef CTDUMP_SERVER_DAEMON_H_
#define CTDUMP_SERVER_DAEMON_H_

#include <functional>
#include <string>
#include <vector>

#include "ctdump/status.h"
#include "sys/unique_fd.h"

namespace ctdump::server {

// Answers one request on its channel: the implementation reads the request
// and writes the whole response (channel.h), on a pool thread. The channel
// is closed after it returns.
using ChannelHandler = std::function<void(int channel_fd)>;

struct DaemonOptions {
  std::vector<std::string> listen = {"[::]:8007"};  // ADDR:PORT; [v6]:PORT; *:PORT
  // The proxy's command line without its descriptors: the program (default
  // /proc/self/exe) and its arguments ("__proxy --cert ... --key ...").
  // "--listen-fds N" is appended.
  std::vector<std::string> proxy_command;
  int request_threads = 8;
  size_t max_channels = 64;
};

// A listening TCP socket for "ADDR:PORT": "[::]:8007" (dual stack),
// "[::1]:8007", "127.0.0.1:8007", "*:8007" (all IPv4 and IPv6), port 0 for
// any free one. InvalidArgument naming the address for a malformed one;
// the bind's errno otherwise ("address already in use").
Result<sys::UniqueFd> Listen(const std::string& address);

// The port a listening socket is bound to (for port 0).
Result<int> BoundPort(int fd);

// Runs until SIGTERM or SIGINT. The listening sockets are bound before the
// first proxy starts, so that a port below 1024 works and no connection is
// refused while the proxy restarts. Returns an error only when the sockets
// cannot be bound or the proxy cannot be started at all; `ready`, if set, is
// called once after the first proxy started (tests and the systemd
// notification), with the bound ports in the order of options.listen.
Status RunDaemon(const DaemonOptions& options, const ChannelHandler& handler,
                 const std::function<void(const std::vector<int>& ports)>& ready = nullptr);

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_DAEMON_H_
