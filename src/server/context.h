// What every route handler of the API server may use (docs/design/api-server.md
// §5): the paths the CLI uses, this node's name, how to start a task, and the
// caller's privileges for checks that depend on data (a container list shows
// only the containers the caller may audit).
//
// Thread-safety: a ServerContext is built once before the daemon starts and
// then only read; `allowed` is thread-safe.
#ifndef CTDUMP_SERVER_CONTEXT_H_
#define CTDUMP_SERVER_CONTEXT_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/router.h"
#include "backup/job_options.h"

namespace ctdump::server {

struct ServerContext {
  backup::Paths paths;
  std::string node;  // the host name up to its first dot; `localhost` is accepted too
  // How a task worker is started: the program (the ctdump binary) and the
  // global options every subcommand gets (--config-dir, --lxcpath), which
  // go before "__task" (tasks/spawn.h).
  std::string program = "/proc/self/exe";
  std::vector<std::string> global_args;
  std::string ssl_fingerprint;  // of the API certificate (GET /nodes)
  // Whether `caller` holds `privilege` ("VM.Audit") on `acl_path`
  // ("/vms/web"), as PVE evaluates ACLs (root@pam: everything; a token
  // with privsep: its own ACL intersected with its user's).
  std::function<bool(const api::Caller& caller, std::string_view acl_path,
                     std::string_view privilege)>
      allowed;
};

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_CONTEXT_H_
