// Starting a task from the server: SpawnTask runs `<program> <global args>
// __task --type T [--id I] --user U -- <command>` and returns its UPID once
// the worker reported it (worker.h has the sequence).
#ifndef CTDUMP_TASKS_SPAWN_H_
#define CTDUMP_TASKS_SPAWN_H_

#include <chrono>
#include <string>
#include <vector>

#include "ctdump/status.h"
#include "tasks/upid.h"

namespace ctdump::tasks {

struct SpawnTaskOptions {
  // The ctdump binary; the default re-executes the running one.
  std::string program = "/proc/self/exe";
  // Global options before `__task` ("--config-dir", "/etc/ctdump", ...).
  std::vector<std::string> global_args;
  std::string type, id, user;        // the UPID's fields (checked)
  std::vector<std::string> command;  // the subcommand and its arguments (not empty)
  // Lines the worker logs first, each as "INFO: <note>" (one line each:
  // control characters are shown escaped).
  std::vector<std::string> notes;
  // "KEY=VALUE" added to the inherited environment (CTDUMP_LOG_DIR, ...).
  std::vector<std::string> extra_env;
  // How long the worker may take to report its UPID.
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

// Spawns the worker (fork+exec through sys/subprocess.h; own session, stdin
// /dev/null, the report pipe as fd 3, stderr on a pipe until the worker
// points it at its log) and waits for its UPID line. The worker is not a
// child of the caller once this returns: it survives the caller. Errors:
// InvalidArgument for bad fields or an empty command; a worker that ended
// before reporting gives Internal with its exit status and the tail of its
// stderr; DeadlineExceeded after `timeout`. Call on the thread that does
// process control (sys/subprocess.h).
Result<Upid> SpawnTask(const SpawnTaskOptions& options);

}  // namespace ctdump::tasks

#endif  // CTDUMP_TASKS_SPAWN_H_
