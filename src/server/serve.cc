#include "server/serve.h"

#include <fmt/format.h>

#include <cstdio>

#include "api/openapi.h"
#include "ctdump/version.h"
#include "server/api_server.h"
#include "server/certificate.h"
#include "server/daemon.h"
#include "server/routes.h"
#include "sys/file.h"
#include "tasks/upid.h"

namespace ctdump::server {

std::vector<api::Route> AllRoutes(const ServerContext& ctx) {
  std::vector<api::Route> routes = AccessRoutes(ctx);
  for (auto group : {NodeRoutes, StorageRoutes, TaskRoutes, BackupRoutes, FileRoutes, JobRoutes})
    for (auto& r : group(ctx)) routes.push_back(std::move(r));
  return routes;
}

std::string ApiDocument() {
  ServerContext ctx;
  ctx.node = "localhost";
  ctx.allowed = [](const api::Caller&, std::string_view, std::string_view) { return false; };
  api::OpenApiInfo info;
  info.version = Version();
  return api::OpenApiDocument(AllRoutes(ctx), info).dump(1) + "\n";
}

Status Serve(const ServeOptions& o) {
  const std::string cert = o.certificate.empty() ? o.paths.config_dir + "/api.pem" : o.certificate;
  const std::string key = o.key.empty() ? o.paths.config_dir + "/priv/api.key" : o.key;
  ASSIGN_OR_RETURN(bool made, EnsureCertificate(cert, key, HostCertificateRequest()));
  ASSIGN_OR_RETURN(std::string pem, sys::ReadRegularFile(cert, 1u << 20));
  ASSIGN_OR_RETURN(std::string fingerprint, CertificateFingerprint(pem));
  std::fprintf(stderr, "API certificate %s%s, SHA-256 fingerprint %s\n", cert.c_str(),
               made ? " (made now)" : "", fingerprint.c_str());

  RETURN_IF_ERROR(sys::MakeDirs(o.paths.log_dir, 0755));
  ASSIGN_OR_RETURN(auto access,
                   AccessState::Open(o.paths.config_dir, o.paths.log_dir + "/audit.log",
                                     PamHelperCheck(o.program)));
  ServerContext ctx;
  ctx.paths = o.paths;
  ctx.node = tasks::ShortHostname();
  ctx.program = o.program;
  ctx.global_args = o.global_args;
  ctx.ssl_fingerprint = fingerprint;
  AccessState* a = access.get();
  ctx.allowed = [a](const api::Caller& caller, std::string_view path, std::string_view priv) {
    return a->Allowed(caller, path, priv);
  };
  ASSIGN_OR_RETURN(api::Router router, api::Router::Create(AllRoutes(ctx)));
  ApiServer server(ctx, *access, std::move(router));

  DaemonOptions d;
  d.listen = o.listen;
  d.request_threads = o.request_threads;
  d.proxy_command = {o.program};
  d.proxy_command.insert(d.proxy_command.end(), o.global_args.begin(), o.global_args.end());
  const std::string root = o.proxy_root.empty() ? o.paths.run_dir + "/api-root" : o.proxy_root;
  for (const auto& part :
       std::vector<std::string>{"__proxy", "--cert", cert, "--key", key, "--www-dir", o.www_dir,
                                "--user", o.proxy_user, "--root", root})
    d.proxy_command.push_back(part);
  return RunDaemon(
      d, [&server](int fd) { server.HandleChannel(fd); },
      [&](const std::vector<int>& ports) {
        for (size_t i = 0; i < ports.size(); ++i)
          std::fprintf(stderr, "API listening on %s (port %d), node '%s'\n", o.listen[i].c_str(),
                       ports[i], ctx.node.c_str());
      });
}

}  // namespace ctdump::server
