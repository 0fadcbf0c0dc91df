// `ctdump job list | show <id> | run <id>`: the jobs of <config-dir>/jobs.cfg
// (jobs/job_config.h) and their states (<state-dir>/jobs/, jobs/job_state.h).
//
// `job run` runs a job now, whether it is enabled or not (PVE's "Run now"),
// records its start and end in the job's state and exits with the job's exit
// code; the scheduler runs every job this way, in a child process. It holds
// the job's lock (<run_dir>/job-<type>-<id>.lock, jobs/job_state.h) for the
// whole run: a second `job run` of the same job is refused, `job list` shows
// the job as running while the lock is held, and its state is read and
// written only under it. A vzdump
// job is `ctdump backup` with the section's options (it takes the global job
// lock and notifies itself); verify, gc, sync and restore-test jobs take the
// global job lock here, so that jobs run one at a time, and send one
// notification per job (type verify, gc, sync or restore-test) with the job's
// log.
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "backup/task_log.h"
#include "cli/commands.h"
#include "cli/job_runners.h"
#include "cli/log_capture.h"
#include "jobs/job_config.h"
#include "jobs/job_list.h"
#include "jobs/job_notification.h"
#include "jobs/job_state.h"
#include "jobs/schedule.h"
#include "registry/registry.h"
#include "sys/file.h"
#include "sys/lock_file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::cli {
namespace {

// Minutes a verify, gc or restore-test job waits for the global job lock
// (vzdump's lockwait default).
constexpr int kLockWaitMinutes = 180;

// How long `job run` waits for its job's lock: the scheduler holds it for a
// moment each minute to read and write the job's state.
constexpr auto kJobLockWait = std::chrono::seconds(5);

// Restore tests' throw-away containers (src/restore/test_restore.h:
// ctdump-rt-<pid>-<n>); `all 1` never selects them.
constexpr std::string_view kRestoreTestPrefix = "ctdump-rt-";

std::string LocalTime(std::optional<int64_t> t) { return t ? jobs::FormatLocalTime(*t) : "-"; }

using Listed = jobs::ListedJob;

Listed Describe(const Context& ctx, const jobs::JobConfig& job, int64_t now, Renderer& diag) {
  std::vector<std::string> warnings;
  Listed l = jobs::DescribeJob(ctx.paths.state_dir, ctx.paths.run_dir, job, now, &warnings);
  for (const std::string& w : warnings) diag.Log(LogLevel::kWarn, w);
  return l;
}

std::string ResultText(const Listed& l) { return jobs::JobResultText(l); }

nlohmann::json ToJson(const Listed& l) { return jobs::JobJson(l); }

// Loads jobs.cfg; its errors (and notifications.cfg's) are logged. Returns
// whether everything was fine in *clean.
Result<jobs::JobsConfig> LoadAndReport(const Context& ctx, Renderer& diag, bool* clean) {
  auto cfg = jobs::LoadJobsConfig(ctx.paths.config_dir);
  if (!cfg.ok()) return cfg.status();
  *clean = cfg->errors.empty();
  for (const Status& e : cfg->errors) diag.Log(LogLevel::kErr, e.message());
  std::vector<std::string> warnings;
  Status n = jobs::CheckNotifyConfig(ctx.paths.config_dir, &warnings);
  for (const std::string& w : warnings) diag.Log(LogLevel::kWarn, w);
  if (!n.ok()) {
    *clean = false;
    diag.Log(LogLevel::kErr, n.message());
  }
  return cfg;
}

int RunList(const Context& ctx) {
  auto diag = MakeRenderer(ctx);
  bool clean = true;
  auto cfg = LoadAndReport(ctx, *diag, &clean);
  if (!cfg.ok()) return Fail(*diag, cfg.status());
  int64_t now = ::time(nullptr);
  if (ctx.json()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& job : cfg->jobs) out.push_back(ToJson(Describe(ctx, job, now, *diag)));
    // A jobs.cfg with broken sections: the jobs that could be read, ok false.
    diag->OnResult(clean, clean ? kExitOk : kExitFailed, out);
  } else {
    fmt::print("{:<24} {:<13} {:<20} {:<7} {:<19} {:<19} {}\n", "ID", "TYPE", "SCHEDULE", "ENABLED",
               "NEXT-RUN", "LAST-RUN", "RESULT");
    for (const auto& job : cfg->jobs) {
      Listed l = Describe(ctx, job, now, *diag);
      fmt::print("{:<24} {:<13} {:<20} {:<7} {:<19} {:<19} {}\n", backup::EscapeControl(job.id),
                 jobs::JobTypeName(job.type),
                 job.schedule ? backup::EscapeControl(job.schedule->text()) : "-",
                 job.enabled ? "1" : "0", LocalTime(l.next_run), LocalTime(l.state.last_start),
                 ResultText(l));
    }
  }
  return clean ? kExitOk : kExitFailed;
}

int RunShow(const Context& ctx, const std::string& id) {
  auto diag = MakeRenderer(ctx);
  auto cfg = jobs::LoadJobsConfig(ctx.paths.config_dir);
  if (!cfg.ok()) return Fail(*diag, cfg.status());
  const jobs::JobConfig* job = cfg->Find(id);
  if (!job) {
    // It may be one of the broken sections.
    for (const Status& e : cfg->errors) diag->Log(LogLevel::kErr, e.message());
    return Fail(*diag, NotFoundError(fmt::format("no job '{}' in {}", id, cfg->file)));
  }
  Listed l = Describe(ctx, *job, ::time(nullptr), *diag);
  if (ctx.json()) {
    diag->OnResult(true, kExitOk, ToJson(l));
    return kExitOk;
  }
  using backup::EscapeControl;
  fmt::print("{}: {}\n", jobs::JobTypeName(job->type), job->id);
  for (const auto& [k, v] : job->options)
    fmt::print("\t{} {}\n", EscapeControl(k), EscapeControl(v));
  fmt::print("\n{:<10} {}\n", "next-run", LocalTime(l.next_run));
  fmt::print("{:<10} {}\n", "last-run", LocalTime(l.state.last_start));
  fmt::print("{:<10} {}\n", "last-end", LocalTime(l.state.last_end));
  fmt::print("{:<10} {}\n", "result", ResultText(l));
  if (!l.state.message.empty())
    fmt::print("{:<10} {}\n", "message", EscapeControl(l.state.message));
  return kExitOk;
}

// The global job lock, as a backup job takes it (backup/job.cc).
Result<sys::LockFile> GlobalLock(const Context& ctx, Renderer& out) {
  RETURN_IF_ERROR(sys::MakeDirs(ctx.paths.run_dir, 0755));
  std::string path = ctx.paths.run_dir + "/ctdump.lock";
  auto warn = [&out](const std::string& m) { out.Log(LogLevel::kWarn, m); };
  auto lock = sys::LockFile::Acquire(path, std::chrono::milliseconds(0), warn);
  if (!lock.ok() && lock.status().code() == Code::kUnavailable) {
    out.Log(LogLevel::kInfo, "trying to get global lock - waiting...");
    lock = sys::LockFile::Acquire(path, std::chrono::minutes(kLockWaitMinutes), warn);
    if (lock.ok()) out.Log(LogLevel::kInfo, "got global lock");
  }
  return lock;
}

// Each selected container's newest backup on the job's storage.
Result<std::vector<std::string>> RestoreTestVolumes(const Context& ctx, Renderer& out,
                                                    const jobs::JobConfig& job, bool* missing) {
  std::vector<std::string> cts = job.vmids;
  if (job.all) {
    ASSIGN_OR_RETURN(auto all, backup::ListContainers(ctx.paths.lxcpath));
    cts.clear();
    for (const auto& ct : all)
      if (std::find(job.exclude.begin(), job.exclude.end(), ct) == job.exclude.end() &&
          !ct.starts_with(kRestoreTestPrefix))
        cts.push_back(ct);
    if (cts.empty())
      return FailedPreconditionError(fmt::format(
          "no containers in lxcpath \"{}\" (after exclude): nothing to test", ctx.paths.lxcpath));
  }
  ASSIGN_OR_RETURN(auto provider, registry::OpenStorage(ctx.paths.config_dir, job.storage, &out));
  std::vector<std::string> volumes;
  Status status;
  for (const std::string& ct : cts) {
    auto list = provider->ListBackups(ct);
    if (!list.ok()) {
      status = list.status();
      break;
    }
    const BackupEntry* newest = nullptr;
    for (const auto& b : *list)
      if (b.vmid == ct && (!newest || b.ctime > newest->ctime)) newest = &b;
    if (!newest) {
      out.Log(LogLevel::kErr,
              fmt::format("no backup of container '{}' on storage '{}'", ct, job.storage));
      *missing = true;
      continue;
    }
    volumes.push_back(job.storage + ":" + newest->volname);
  }
  Status sh = provider->Shutdown();
  if (!sh.ok()) out.Log(LogLevel::kWarn, sh.message());
  if (!status.ok()) return status;
  return volumes;
}

int RunRestoreTests(const Context& ctx, Renderer& out, const jobs::JobConfig& job) {
  bool missing = false;
  auto volumes = RestoreTestVolumes(ctx, out, job, &missing);
  if (!volumes.ok()) return Fail(out, volumes.status());
  int code = missing ? kExitFailed : kExitOk;
  for (const std::string& volume : *volumes) {
    RestoreTestRun run;
    run.volume = volume;
    run.check = job.check;
    run.timeout_s = job.timeout_s;
    int c = RunRestoreTestCommand(ctx, out, run);
    if (c != kExitOk) code = kExitFailed;
    if (sys::CheckInterrupted().code() == Code::kCancelled) break;
  }
  return code;
}

std::string TaskTitle(const jobs::JobConfig& job, bool ok, const std::string& host) {
  switch (job.type) {
    case jobs::JobType::kVerify:
      return ok ? fmt::format("Verify Datastore '{}' successful", job.storage)
                : fmt::format("Verification failed on datastore '{}'", job.storage);
    case jobs::JobType::kGc:
      return fmt::format("Garbage Collect Datastore '{}' {}", job.storage,
                         ok ? "successful" : "failed");
    case jobs::JobType::kCompact:
      return fmt::format("Compact Datastore '{}' {}", job.storage, ok ? "successful" : "failed");
    case jobs::JobType::kSync:  // as PBS's sync job
      return ok ? fmt::format("Sync datastore '{}' from '{}' successful", job.target, job.source)
                : fmt::format("Synchronization failed on datastore '{}'", job.target);
    default:
      return fmt::format("restore test ({}): job '{}' {}", host, job.id,
                         ok ? "successful" : "failed");
  }
}

// A verify, gc, compact, sync or restore-test job: under the global lock, one notification.
int RunTaskJob(const Context& ctx, Renderer& out, const jobs::JobConfig& job) {
  LogCapture capture(out);
  int code = kExitFailed;
  {
    auto lock = GlobalLock(ctx, capture);
    if (!lock.ok()) {
      capture.Log(LogLevel::kErr,
                  fmt::format("{} job '{}' failed - {}", jobs::JobTypeName(job.type), job.id,
                              lock.status().message()));
    } else if (job.type == jobs::JobType::kVerify) {
      VerifyRun run;
      run.storage = job.storage;
      if (!job.vmids.empty()) run.vmid = job.vmids[0];
      run.skip_verified_days = job.skip_verified_days;
      code = RunVerifyCommand(ctx, capture, run);
    } else if (job.type == jobs::JobType::kGc) {
      code = RunGcCommand(ctx, capture, job.storage, false);
    } else if (job.type == jobs::JobType::kCompact) {
      CompactRun run;
      run.storage = job.storage;
      code = RunCompactCommand(ctx, capture, run);
    } else if (job.type == jobs::JobType::kSync) {
      SyncRun run;
      run.source = job.source;
      run.target = job.target;
      run.vmids = job.vmids;
      run.transfer_last = job.transfer_last;
      run.remove_vanished = job.remove_vanished;
      code = RunSyncCommand(ctx, capture, run);
    } else {
      code = RunRestoreTests(ctx, capture, job);
    }
  }
  std::string errors;
  for (const std::string& l : capture.lines())
    if (l.rfind("ERROR: ", 0) == 0) errors += l + "\n";
  std::string host = jobs::ShortHostname();
  int64_t now = ::time(nullptr);
  auto n = jobs::TaskNotification(std::string(jobs::JobTypeName(job.type)), code == kExitOk,
                                  TaskTitle(job, code == kExitOk, host), errors, capture.lines(),
                                  host, job.id, now);
  // As PBS's verify and gc notifications (server/notifications.rs).
  if (job.type == jobs::JobType::kVerify || job.type == jobs::JobType::kGc ||
      job.type == jobs::JobType::kCompact)
    n.fields["datastore"] = job.storage;
  if (job.type == jobs::JobType::kSync) n.fields["datastore"] = job.target;
  jobs::SendNotification(ctx.paths.config_dir, jobs::NotifySettings(), n, &out);
  return code;
}

int RunJobOfType(const Context& ctx, Renderer& out, const jobs::JobConfig& job) {
  if (job.type != jobs::JobType::kVzdump) return RunTaskJob(ctx, out, job);
  backup::JobOptions options = job.backup;
  options.command_line = ctx.command_line;
  BackupNotifyOptions notify;
  notify.mailto = job.notify.mailto;
  notify.mailnotification = job.notify.mailnotification;
  notify.notification_mode = job.notify.notification_mode;
  return RunBackupCommand(ctx, out, std::move(options), notify, job.id);
}

int RunRun(const Context& ctx, const std::string& id) {
  auto renderer = MakeRenderer(ctx);
  auto cfg = jobs::LoadJobsConfig(ctx.paths.config_dir);
  if (!cfg.ok()) return Fail(*renderer, cfg.status());
  const jobs::JobConfig* job = cfg->Find(id);
  if (!job) {
    for (const Status& e : cfg->errors) renderer->Log(LogLevel::kErr, e.message());
    return Fail(*renderer, NotFoundError(fmt::format("no job '{}' in {}", id, cfg->file)));
  }
  std::string path = jobs::JobStatePath(ctx.paths.state_dir, job->StateKey());
  // Held for the whole run (released by the kernel should this process die).
  Status dirs = sys::MakeDirs(ctx.paths.run_dir, 0755);
  if (!dirs.ok()) return Fail(*renderer, dirs);
  auto job_lock = sys::LockFile::Acquire(
      jobs::JobLockPath(ctx.paths.run_dir, job->StateKey()), kJobLockWait,
      [&renderer](const std::string& m) { renderer->Log(LogLevel::kInfo, m); });
  if (!job_lock.ok()) {
    if (job_lock.status().code() == Code::kUnavailable)
      return Fail(*renderer, FailedPreconditionError(fmt::format("job '{}' is already running: {}",
                                                                 id, job_lock.status().message())));
    return Fail(*renderer, job_lock.status());
  }
  auto state = jobs::LoadJobState(path);
  if (!state.ok()) {
    renderer->Log(LogLevel::kWarn, state.status().message() + " (starting a new state)");
    state = jobs::JobState();
  }
  state->last_start = ::time(nullptr);
  if (!state->created) state->created = state->last_start;
  state->pid = ::getpid();
  state->result.clear();
  state->message.clear();
  Status s = jobs::SaveJobState(path, *state);
  if (!s.ok()) renderer->Log(LogLevel::kWarn, "cannot record the job's start: " + s.message());

  LogCapture capture(*renderer);
  int code = RunJobOfType(ctx, capture, *job);

  // Nobody writes it while the lock is held; the file is read again anyway,
  // should it have been edited by hand.
  auto end = jobs::LoadJobState(path);
  jobs::JobState done = end.ok() ? *end : *state;
  done.last_start = state->last_start;
  done.last_end = ::time(nullptr);
  done.pid.reset();
  done.result = code == kExitOk ? "ok" : "error";
  done.message.clear();
  if (code != kExitOk) {
    for (const std::string& l : capture.lines())
      if (l.rfind("ERROR: ", 0) == 0 && done.message.empty()) done.message = l.substr(7);
    if (done.message.empty()) done.message = fmt::format("exit code {}", code);
  }
  s = jobs::SaveJobState(path, done);
  if (!s.ok()) renderer->Log(LogLevel::kWarn, "cannot record the job's end: " + s.message());
  return code;
}

}  // namespace

void RegisterJob(CLI::App& app, Context& ctx) {
  auto* job = app.add_subcommand("job", "scheduled jobs of jobs.cfg: list, show, run");
  job->require_subcommand(1);
  auto* list = job->add_subcommand("list", "list the jobs with their next and last run");
  ctx.AddRunner(list, [&ctx] { return RunList(ctx); });

  auto show_id = std::make_shared<std::string>();
  auto* show = job->add_subcommand("show", "show a job's section and state");
  show->add_option("id", *show_id, "job id")->required();
  ctx.AddRunner(show, [&ctx, show_id] { return RunShow(ctx, *show_id); });

  auto run_id = std::make_shared<std::string>();
  auto* run = job->add_subcommand("run", "run a job now (also a disabled one)");
  run->add_option("id", *run_id, "job id")->required();
  ctx.AddRunner(run, [&ctx, run_id] { return RunRun(ctx, *run_id); });
}

}  // namespace ctdump::cli
