// `ctdump __proxy`: the proxy process's start (docs/design/api-server.md §1).
// Exec'd by `ctdump serve` as root with the control socket as fd 3 and the
// listening sockets as fd 4, 5, ...: it reads the certificate, its key and
// the console's files, confines itself (confine.h) and serves (proxy.h).
#ifndef CTDUMP_HTTPD_PROXY_PROCESS_H_
#define CTDUMP_HTTPD_PROXY_PROCESS_H_

#include <string>

#include "httpd/confine.h"

namespace ctdump::httpd {

struct ProxyProcessOptions {
  std::string certificate_path;
  std::string key_path;
  std::string www_dir;
  int listen_fds = 1;  // fds 4 .. 3 + listen_fds
  ConfineOptions confine;
};

// The process's exit code: 0 when the privileged part closed the control
// socket, 1 (after a line on stderr) when something could not be loaded or
// the confinement failed.
int RunProxyProcess(const ProxyProcessOptions& options);

}  // namespace ctdump::httpd

#endif  // CTDUMP_HTTPD_PROXY_PROCESS_H_
