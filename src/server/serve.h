// `ctdump serve`: the whole API server put together (docs/design/api-server.md):
// the certificate made if needed, user.cfg and the keys, the route table,
// the dispatcher on the daemon's request threads, the confined proxy.
#ifndef CTDUMP_SERVER_SERVE_H_
#define CTDUMP_SERVER_SERVE_H_

#include <string>
#include <vector>

#include "api/router.h"
#include "backup/job_options.h"
#include "ctdump/status.h"
#include "server/context.h"

namespace ctdump::server {

struct ServeOptions {
  backup::Paths paths;
  std::vector<std::string> listen = {"[::]:8007"};
  std::string certificate;  // default <config-dir>/api.pem
  std::string key;          // default <config-dir>/priv/api.key
  std::string www_dir = "/usr/share/ctdump/www";
  std::string proxy_user = "_ctdump";
  std::string proxy_root;  // default <run-dir>/api-root
  std::string program = "/proc/self/exe";
  // The global options the program's subcommands get (--config-dir, --lxcpath).
  std::vector<std::string> global_args;
  int request_threads = 8;
};

// Every route of the API, for a server with context `ctx` (handlers capture
// it: it must outlive the routes).
std::vector<api::Route> AllRoutes(const ServerContext& ctx);

// The OpenAPI document of the route table (`ctdump __api-dump`, from which
// scripts/gen-api-doc.py writes docs/api.md's endpoint table), as JSON text.
std::string ApiDocument();

// Runs until SIGTERM/SIGINT. Errors only when it cannot start (a port in
// use, a broken certificate pair, unreadable keys).
Status Serve(const ServeOptions& options);

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_SERVE_H_
