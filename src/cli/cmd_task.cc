// `ctdump __task --type T [--id I] --user U -- <subcommand...>` (hidden): runs
// a subcommand as a PVE-style task (docs/design/api-server.md §3). The server
// spawns it (tasks/spawn.h); the worker's start and end are tasks/worker.h.
//
// The subcommand runs in the worker's own process, so the pid in the UPID is
// the process doing the work, with text output into the task log. Its
// warnings and terminal error are read back from that log (the renderers
// write one "WARN: " / "ERROR: " line per message) to write the final line:
// "TASK OK", "TASK WARNINGS: <n>", or "TASK ERROR: <message>", where the
// message is "interrupted by signal" after SIGTERM (an abort), "job errors"
// when a backup had failed containers (as vzdump), else the last error line.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backup/task_log.h"
#include "cli/commands.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "tasks/upid.h"
#include "tasks/worker.h"

namespace ctdump::cli {
namespace {

constexpr const char* kTaskName = "__task";

struct TaskArgs {
  std::string type, id, user;
  std::vector<std::string> command;
  std::vector<std::string> notes;  // logged first, as INFO lines
};

std::string CommandLineOf(const std::vector<std::string>& words) {
  std::string s = "ctdump";
  for (const auto& a : words)
    s += " " + (a.find_first_of(" \t'\"") == std::string::npos ? a : "'" + a + "'");
  return s;
}

// Runs `ctdump <command...>` in this process with the task's paths and text
// output; returns its exit code. Usage errors are "ERROR: " lines.
int RunSubcommand(const Context& outer, const std::vector<std::string>& command) {
  CLI::App app{"ctdump"};
  app.fallthrough();
  app.require_subcommand(1);
  Context ctx;
  ctx.paths = outer.paths;
  ctx.command_line = CommandLineOf(command);
  app.add_option("--lxcpath", ctx.paths.lxcpath, "LXC container path");
  app.add_option("--config-dir", ctx.paths.config_dir, "directory of storage.cfg and ctdump.conf");
  RegisterAll(app, ctx);
  try {
    app.parse(std::vector<std::string>(command.rbegin(), command.rend()));
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ERROR: %s\n", e.what());
    return kExitUsage;
  }
  ctx.command = CommandWords(app);
  const std::function<int()>* run = ctx.Selected();
  if (!run || ctx.command.starts_with("__")) {
    std::fprintf(stderr, "ERROR: '%s' cannot run as a task\n", ctx.command.c_str());
    return kExitUsage;
  }
  try {
    return (*run)();
  } catch (const std::exception& e) {
    // Reaching here unwound every guard; the task still gets its final line.
    std::fprintf(stderr, "ERROR: internal error: %s\n", e.what());
    return kExitFailed;
  }
}

// The outcome as the log shows it (see the top of the file).
tasks::TaskOutcome OutcomeOf(const std::string& log_path, int exit_code) {
  tasks::TaskOutcome o;
  std::string last_error;
  bool guest_failed = false;
  auto log = sys::ReadFile(log_path);
  std::string_view rest = log.ok() ? std::string_view(*log) : std::string_view();
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (line.starts_with("WARN: ")) ++o.warnings;
    if (line.starts_with("ERROR: ")) {
      last_error = line.substr(7);
      // vzdump's per-guest error line (backup/job.cc).
      if (line.starts_with("ERROR: Backup of VM ") && line.find(" failed - ") != line.npos)
        guest_failed = true;
    }
  }
  if (exit_code == kExitOk) return o;
  if (sys::InterruptSignal() != 0) {
    o.error = "interrupted by signal";
  } else if (guest_failed) {
    o.error = "job errors";
  } else if (!last_error.empty()) {
    o.error = last_error;
  } else {
    o.error = fmt::format("command failed with exit code {}", exit_code);
  }
  return o;
}

int RunTask(const Context& ctx, const TaskArgs& a) {
  // Before the worker exists stderr is the spawner's pipe: errors reach it.
  for (const Status& s :
       {tasks::CheckTaskType(a.type), tasks::CheckTaskId(a.id), tasks::CheckTaskUser(a.user)}) {
    if (!s.ok()) {
      std::fprintf(stderr, "ERROR: %s\n", s.message().c_str());
      return kExitUsage;
    }
  }
  const int report_fd = tasks::InheritedReportFd();
  auto detached = tasks::DetachWorker(report_fd);
  if (!detached.ok()) {
    std::fprintf(stderr, "ERROR: %s\n", detached.status().message().c_str());
    return kExitFailed;
  }
  if (!detached->worker) return detached->exit_code;
  tasks::WorkerOptions wo;
  wo.log_dir = ctx.paths.log_dir;
  wo.type = a.type;
  wo.id = a.id;
  wo.user = a.user;
  wo.report_fd = report_fd;
  auto worker = tasks::Worker::Start(wo, std::move(detached->ready));
  if (!worker.ok()) {
    std::fprintf(stderr, "ERROR: %s\n", worker.status().message().c_str());
    return kExitFailed;
  }
  // stderr is the task log now.
  for (const std::string& note : a.notes)
    std::fprintf(stderr, "INFO: %s\n", backup::EscapeControl(note).c_str());
  int code = RunSubcommand(ctx, a.command);
  tasks::TaskOutcome outcome = OutcomeOf(worker->log_path(), code);
  Status s = worker->Finish(outcome);
  if (!s.ok()) {
    // stderr is the log, which may be what failed; nothing else to tell.
    std::fprintf(stderr, "ERROR: ending the task failed: %s\n", s.message().c_str());
    return kExitFailed;
  }
  return outcome.error ? kExitFailed : kExitOk;
}

}  // namespace

void RegisterTask(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<TaskArgs>();
  auto* t = app.add_subcommand(kTaskName, "run a subcommand as a task (for the API server)");
  t->group("");  // hidden from --help
  t->add_option("--type", args->type, "task type (vzdump, vzrestore, imgdel)")->required();
  t->add_option("--id", args->id, "task id (the container)");
  t->add_option("--user", args->user, "user or token id the task runs for")->required();
  t->add_option("--note", args->notes, "a line the task's log starts with (repeatable)")
      ->allow_extra_args(false);
  t->add_option("command", args->command, "the subcommand and its arguments, after --")->required();
  ctx.AddRunner(t, [&ctx, args] { return RunTask(ctx, *args); });
}

}  // namespace ctdump::cli
