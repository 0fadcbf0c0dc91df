// `ctdump serve`: the API server and web console (docs/api.md,
// docs/design/api-server.md), and its hidden helpers:
//   `ctdump __proxy ...`   the confined network-facing proxy (httpd/), which
//                          `serve` starts with its descriptors; never by hand;
//   `ctdump __api-dump`    the route table as an OpenAPI document (JSON), from
//                          which scripts/gen-api-doc.py writes docs/api.md's table;
//   `ctdump __pam-auth`    one PAM check: "user\0password\0rhost" on stdin,
//                          exit 0 (accepted) or 1 (refused, the reason on
//                          stderr), started by `serve` per login.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "access/pam_auth.h"
#include "cli/commands.h"
#include "httpd/confine.h"
#include "httpd/proxy_process.h"
#include "server/serve.h"

namespace ctdump::cli {
namespace {

#ifndef CTDUMP_WWW_DIR
#define CTDUMP_WWW_DIR "/usr/share/ctdump/www"
#endif

struct ServeArgs {
  std::vector<std::string> listen;
  std::string cert, key, www_dir = CTDUMP_WWW_DIR, proxy_user = "_ctdump";
  int threads = 8;
};

int RunServe(const Context& ctx, const ServeArgs& a) {
  auto out = MakeRenderer(ctx);
  // The proxy's account is checked before anything listens: a missing one
  // would only show as a proxy that keeps dying.
  auto account = httpd::LookUpAccount(a.proxy_user);
  if (!account.ok()) return Fail(*out, account.status());
  server::ServeOptions o;
  o.paths = ctx.paths;
  if (!a.listen.empty()) o.listen = a.listen;
  o.certificate = a.cert;
  o.key = a.key;
  o.www_dir = a.www_dir;
  o.proxy_user = a.proxy_user;
  o.request_threads = a.threads;
  o.global_args = {"--lxcpath", ctx.paths.lxcpath, "--config-dir", ctx.paths.config_dir};
  Status s = server::Serve(o);
  if (!s.ok()) return Fail(*out, s);
  return kExitOk;
}

int RunPamAuth() {
  std::string input;
  char buf[4096];
  for (ssize_t n; (n = ::read(0, buf, sizeof(buf))) > 0 && input.size() < 65536;)
    input.append(buf, static_cast<size_t>(n));
  size_t a = input.find('\0');
  size_t b = a == std::string::npos ? a : input.find('\0', a + 1);
  if (b == std::string::npos) {
    std::fprintf(stderr, "pam: malformed request\n");
    return 1;
  }
  access::PamRequest r;
  r.user = input.substr(0, a);
  r.password = input.substr(a + 1, b - a - 1);
  r.rhost = input.substr(b + 1);
  Status s = access::PamAuthenticate(r);
  if (s.ok()) return 0;
  std::fprintf(stderr, "%s\n", s.message().c_str());
  return 1;
}

}  // namespace

void RegisterServe(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* sub = app.add_subcommand(
      "serve",
      "Run the API server and web console (HTTPS, PVE-compatible /api2/json; docs/api.md). The "
      "network-facing part runs as --proxy-user in an empty chroot; the certificate is made at "
      "the first start when neither --cert nor --key exists");
  sub->add_option("--listen", args->listen,
                  "ADDR:PORT to listen on, repeatable (default [::]:8007, IPv4 and IPv6)");
  sub->add_option("--cert", args->cert,
                  "TLS certificate chain, PEM (default <config-dir>/api.pem)");
  sub->add_option("--key", args->key, "its private key, PEM (default <config-dir>/priv/api.key)");
  sub->add_option("--www-dir", args->www_dir, "the web console's files")->capture_default_str();
  sub->add_option("--proxy-user", args->proxy_user,
                  "unprivileged account of the network-facing process")
      ->capture_default_str();
  sub->add_option("--threads", args->threads, "request threads (1-64, default 8)")
      ->check(CLI::Range(1, 64));
  ctx.AddRunner(sub, [&ctx, args] { return RunServe(ctx, *args); });

  auto proxy = std::make_shared<httpd::ProxyProcessOptions>();
  CLI::App* p = app.add_subcommand("__proxy", "");
  p->group("");  // hidden: started by `serve` with its descriptors
  p->add_option("--cert", proxy->certificate_path)->required();
  p->add_option("--key", proxy->key_path)->required();
  p->add_option("--www-dir", proxy->www_dir)->required();
  p->add_option("--user", proxy->confine.user)->required();
  p->add_option("--root", proxy->confine.root)->required();
  p->add_option("--listen-fds", proxy->listen_fds)->required();
  ctx.AddRunner(p, [proxy] { return httpd::RunProxyProcess(*proxy); });

  CLI::App* dump = app.add_subcommand("__api-dump", "");
  dump->group("");  // hidden: the OpenAPI document, for scripts/gen-api-doc.py
  ctx.AddRunner(dump, [] {
    std::fputs(server::ApiDocument().c_str(), stdout);
    return kExitOk;
  });

  CLI::App* pam = app.add_subcommand("__pam-auth", "");
  pam->group("");  // hidden: one PAM check for `serve`
  ctx.AddRunner(pam, [] { return RunPamAuth(); });
}

}  // namespace ctdump::cli
