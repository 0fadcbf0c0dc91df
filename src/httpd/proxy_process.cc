#include "httpd/proxy_process.h"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <sys/prctl.h>

#include <csignal>
#include <cstdio>

#include "httpd/proxy.h"
#include "sys/file.h"

namespace ctdump::httpd {
namespace {

constexpr size_t kMaxPemBytes = 1u << 20;
constexpr int kControlFd = 3;
constexpr int kFirstListenFd = 4;

int Fail(const std::string& why) {
  std::fprintf(stderr, "ctdump-api proxy: %s\n", why.c_str());
  return 1;
}

}  // namespace

int RunProxyProcess(const ProxyProcessOptions& o) {
  // The privileged part's death ends the proxy, also before it noticed the
  // control socket's EOF.
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (o.listen_fds < 1 || o.listen_fds > 60) return Fail("--listen-fds must be 1..60");
  for (int fd = kControlFd; fd < kFirstListenFd + o.listen_fds; ++fd)
    if (::fcntl(fd, F_GETFD) < 0)
      return Fail("descriptor " + std::to_string(fd) +
                  " was not passed: start it through 'ctdump serve'");
  ProxyOptions p;
  p.control_fd = kControlFd;
  for (int i = 0; i < o.listen_fds; ++i) p.listen_fds.push_back(kFirstListenFd + i);
  auto cert = sys::ReadRegularFile(o.certificate_path, kMaxPemBytes);
  if (!cert.ok()) return Fail(cert.status().message());
  auto key = sys::ReadRegularFile(o.key_path, kMaxPemBytes);
  if (!key.ok()) return Fail(key.status().message());
  auto assets = LoadAssets(o.www_dir);
  if (!assets.ok()) return Fail(assets.status().message());
  p.certificate_pem = std::move(*cert);
  p.private_key_pem = std::move(*key);
  p.assets = std::move(*assets);
  // OpenSSL reads its configuration file once, here, before the chroot
  // hides it.
  OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, nullptr);
  Status s = Confine(o.confine);
  if (!s.ok()) return Fail(s.message());
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return Fail("PR_SET_PDEATHSIG");
  return RunProxy(std::move(p));
}

}  // namespace ctdump::httpd
