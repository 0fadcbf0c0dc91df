// One `ctdump` command run by the conformance kit as a child process of the
// same binary, with the kit's global options and --output-format json: the
// kit exercises the commands end to end, as an admin runs them.
//
// The child runs in its own session (a Ctrl-C on the terminal reaches only
// the kit, which then ends the child in order); its stdout is parsed as JSON
// events (docs/json-events.md), its stderr kept as text. A child that
// outlives the timeout, or runs when a new SIGINT/SIGTERM arrives, gets
// SIGTERM, then SIGKILL for its whole process group 30 s later.
#ifndef CTDUMP_PROVIDERTEST_CTDUMP_CHILD_H_
#define CTDUMP_PROVIDERTEST_CTDUMP_CHILD_H_

#include <sys/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::providertest {

struct ChildOptions {
  std::string exe;  // the ctdump binary (/proc/self/exe)
  std::string lxcpath;
  std::string config_dir;
  unsigned timeout_s = 600;
  // SIGINT/SIGTERM count at which the child is still allowed to run: a
  // signal beyond it ends the child (cleanup after a first signal still runs).
  int interrupt_baseline = 0;
  // Called about every 200 ms while the child runs, with its pid (the abort
  // check signals the child from here). Default: none.
  std::function<void(pid_t)> on_wait;
};

struct ChildResult {
  std::vector<std::string> argv;  // the command, for messages
  int exit_code = -1;             // -1: killed by a signal
  bool timed_out = false;
  bool interrupted = false;
  double seconds = 0;
  std::vector<nlohmann::json> events;  // every JSON line of stdout
  std::string stderr_text;

  // The last event (result, job-end or error); null when there is none.
  nlohmann::json Terminal() const;
  // The `data` of the result event; null without one.
  nlohmann::json Data() const;
  // The messages of `log` events of `level` ("warn", "err").
  std::vector<std::string> Logs(const std::string& level) const;
  // Why it failed, for a check's reason: the error event's message, the
  // last err log line, a timeout or the stderr's last line.
  std::string Why() const;
  bool ok() const { return exit_code == 0; }
};

// Runs `ctdump <global options> --output-format json <args...>`. Errors only
// when the child cannot be started.
Result<ChildResult> RunCtdump(const ChildOptions& options, const std::vector<std::string>& args);

}  // namespace ctdump::providertest

#endif  // CTDUMP_PROVIDERTEST_CTDUMP_CHILD_H_
