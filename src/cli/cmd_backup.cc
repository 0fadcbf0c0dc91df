// `ctdump backup`: vzdump's options (README's option table); ctdump.conf
// supplies what the command line leaves out (backup/job_options.h).
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "backup/guest_state.h"
#include "backup/job.h"
#include "backup/job_options.h"
#include "cli/commands.h"
#include "cli/job_runners.h"
#include "cli/log_capture.h"
#include "jobs/job_notification.h"

namespace ctdump::cli {

namespace {

// The job's notification (jobs/job_notification.h): sent after the summary,
// through `out`; never changes the exit code.
void Notify(const Context& ctx, Renderer& out, const jobs::NotifySettings& settings,
            const backup::JobResult& result, int64_t start, const std::vector<std::string>& log,
            const std::string& job_id) {
  int64_t now = ::time(nullptr);
  auto n = jobs::BackupNotification(result, now - start, log, jobs::ShortHostname(), job_id, now);
  jobs::SendNotification(ctx.paths.config_dir, settings, n, &out);
}

}  // namespace

int RunBackupCommand(const Context& ctx, Renderer& out, backup::JobOptions job,
                     const BackupNotifyOptions& notify, const std::string& job_id) {
  if (::geteuid() != 0) return Fail(out, PermissionDeniedError("ctdump backup must run as root"));
  const int64_t start = ::time(nullptr);
  LogCapture capture(out);
  Renderer* renderer = &capture;
  jobs::NotifySettings settings{notify.mailto, notify.mailnotification, notify.notification_mode};
  backup::JobResult result;
  // A job that fails before any container runs notifies too (the settings
  // given so far: ctdump.conf's join once it could be read), except for a
  // usage error typed on the command line, which its author sees.
  // JSON: an `error` event ends the stream (no job started, no job-end).
  auto fail_early = [&](const Status& s) {
    renderer->Error(s.message(), ExitCodeOf(s));
    result.status = s;
    if (!job_id.empty() || s.code() != Code::kInvalidArgument)
      Notify(ctx, out, settings, result, start, capture.lines(), job_id);
    return ExitCodeOf(s);
  };
  const backup::Paths& paths = ctx.paths;
  auto node = backup::LoadNodeDefaults(paths.config_dir);
  if (!node.ok()) return fail_early(node.status());
  auto merged = jobs::MergeNotifySettings(settings, *node);
  if (!merged.ok()) return fail_early(merged.status());
  settings = *merged;
  auto opts =
      backup::ResolveJobOptions(job, *node, paths.config_dir + "/ctdump.conf", paths.lxcpath);
  if (!opts.ok()) {
    // `ctdump status` shows the job's error for each container it names.
    backup::RecordJobFailure(paths.state_dir, job.vmids, job.storage.value_or(""), job_id,
                             opts.status(), renderer);
    return fail_early(opts.status());
  }
  opts->job_id = job_id;
  renderer->SetQuiet(opts->quiet);
  if (!opts->node.empty()) {
    // vzdump's node: the job runs only on that node (PVE's nodename: the
    // host name up to the first dot).
    std::string nodename = jobs::ShortHostname();
    if (opts->node != nodename) {
      renderer->Log(LogLevel::kInfo, fmt::format("skipping backup job: it is for node '{}', this "
                                                 "is node '{}'",
                                                 opts->node, nodename));
      renderer->JobEnd(backup::JobResult());  // JSON: job-end, ok, no guests
      return kExitOk;
    }
  }
  result = backup::RunBackupJob(*opts, paths, renderer);
  renderer->JobEnd(result);
  Notify(ctx, out, settings, result, start, capture.lines(), job_id);
  return result.ok() ? kExitOk : kExitFailed;
}

void RegisterBackup(CLI::App& app, Context& ctx) {
  auto job = std::make_shared<backup::JobOptions>();
  auto* b = app.add_subcommand("backup", "back up containers (vzdump)");
  b->add_option("vmid", job->vmids, "container names (also lists: a,b)");
  b->add_flag("--all", job->all, "back up every container under lxcpath");
  b->add_option("--exclude", job->exclude,
                "with --all: containers to skip (a list: a,b or 'a b'; repeatable)")
      ->allow_extra_args(false);
  b->add_option("--storage", job->storage, "storage id from storage.cfg");
  b->add_option("--mode", job->mode, "backup mode: snapshot (default), suspend or stop")
      ->check(CLI::IsMember({"stop", "suspend", "snapshot"}));
  b->add_option("--exclude-path", job->exclude_paths,
                "exclude files matching this glob (repeatable)")
      ->allow_extra_args(false);
  b->add_option("--include-mount", job->include_mounts,
                "also back up the bind mount at this path in the container (repeatable)")
      ->allow_extra_args(false);
  b->add_option("--stdexcludes", job->stdexcludes, "exclude temporary files (0|1, default 1)");
  b->add_option("--bwlimit", job->bwlimit_kib, "bandwidth limit in KiB/s (0 = unlimited)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 40));
  b->add_option("--tmpdir", job->tmpdir, "directory for temporary files (default /var/tmp)");
  b->add_option("--script", job->script, "hook script");
  b->add_option("--lockwait", job->lockwait_minutes, "minutes to wait for the global lock (180)")
      ->check(CLI::Range(0u, 1000000u));
  b->add_option("--stopwait", job->stopwait_minutes, "minutes to wait for a clean stop (10)")
      ->check(CLI::Range(0u, 1000000u));

  b->add_option("--compress", job->compress,
                "dir storage: 0 (none), 1 (lzo, as vzdump), gzip, lzo, zstd, none");
  b->add_option("--dumpdir", job->dumpdir, "write the archives into this directory (no storage)");
  b->add_option("--maxfiles", job->maxfiles, "deprecated: --prune-backups keep-last=N")
      ->check(CLI::Range(0u, 1000000u));
  b->add_option("--remove", job->remove,
                "prune by the retention after the backup (0|1, default 1)");
  b->add_option("--ionice", job->ionice, "I/O priority: 0-7 best effort, 8 idle (default 7)")
      ->check(CLI::Range(0u, 8u));
  b->add_option("--quiet", job->quiet, "show only warnings and errors (0|1)");
  b->add_option("--node", job->node, "run only on this node (host name)");
  b->add_option("--zstd", job->zstd_threads, "zstd threads, 0 = half the cores (default 1)")
      ->check(CLI::Range(0u, 256u));
  b->add_flag("--force-full", job->force_full,
              "datastore storage: read every file, ignoring the previous backup");
  b->add_option(
      "--notes-template", job->notes_template,
      "notes for the backup: {{guestname}} {{node}} {{vmid}} {{cluster}}, \\n for newlines");
  b->add_option("--protected", job->is_protected, "mark the backup protected (0|1)");
  b->add_option("--prune-backups", job->prune_backups,
                "retention, e.g. keep-last=3,keep-daily=7 (default: the storage's)");
  auto notify = std::make_shared<BackupNotifyOptions>();
  auto mailto = std::make_shared<std::vector<std::string>>();
  b->add_option("--mailto", *mailto,
                "mail the job's notification to these addresses (a list: a,b; repeatable)")
      ->allow_extra_args(false);
  b->add_option("--mailnotification", notify->mailnotification,
                "with --mailto: always (default) or failure")
      ->check(CLI::IsMember({"always", "failure"}));
  b->add_option("--notification-mode", notify->notification_mode,
                "auto (default: legacy-sendmail with mailto, else notification-system), "
                "legacy-sendmail or notification-system")
      ->check(CLI::IsMember({"auto", "legacy-sendmail", "notification-system"}));
  ctx.AddRunner(b, [&ctx, job, notify, mailto] {
    backup::JobOptions j = *job;
    j.command_line = ctx.command_line;
    auto renderer = MakeRenderer(ctx);
    BackupNotifyOptions n = *notify;
    for (const std::string& m : *mailto) {
      auto list = jobs::ParseMailto(m);
      if (!list.ok())
        return UsageError(*renderer, InvalidArgumentError("--" + list.status().message()));
      n.mailto.insert(n.mailto.end(), list->begin(), list->end());
    }
    return RunBackupCommand(ctx, *renderer, std::move(j), n, "");
  });
}

}  // namespace ctdump::cli
