// The API's network-facing proxy (docs/design/api-server.md §1, §4): TLS and
// HTTP/1.1 on the listening sockets, the web console's files from memory,
// and every API request forwarded verbatim over a per-request channel to the
// privileged part (channel/), whose answer it relays.
//
// It authenticates nothing and holds nothing of value but the TLS key: it
// runs confined (confine.h) as an unprivileged user in an empty chroot. It
// enforces the limits that protect the privileged part from the network:
// request head ≤ 16 KiB and ≤ 100 fields (431), URL ≤ 8 KiB (414), body ≤
// 512 KiB (413), 256 connections in all and 32 per client address, TLS
// handshake 10 s, request 30 s (slowloris), keep-alive idle 30 s, ≤ 64
// requests in flight (503); every answer ≥ 400 closes the connection, and a
// 401 is sent 3 s after its request arrived (pveproxy's delay against
// guessing).
//
// One thread (Boost.Asio): the load is a console and scripts, and one thread
// needs no locks. Boost.Beast stays in proxy.cc.
#ifndef CTDUMP_HTTPD_PROXY_H_
#define CTDUMP_HTTPD_PROXY_H_

#include <string>
#include <vector>

#include "httpd/assets.h"

namespace ctdump::httpd {

struct ProxyOptions {
  int control_fd = -1;          // SOCK_SEQPACKET to the privileged part (channel/control.h)
  std::vector<int> listen_fds;  // bound and listening TCP sockets, owned from now on
  std::string certificate_pem;  // the chain, leaf first
  std::string private_key_pem;
  Assets assets;
};

// Serves until the privileged part closes the control socket (returns 0) or
// a fatal error (returns 1 after a line on stderr). Never returns while
// requests could still reach a dead back end.
int RunProxy(ProxyOptions options);

}  // namespace ctdump::httpd

#endif  // CTDUMP_HTTPD_PROXY_H_
