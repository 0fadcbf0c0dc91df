// What `ctdump job run <id>` (and so the scheduler) runs for each job type of
// jobs.cfg. Each runner is the body of the command of the same name, so a job
// does exactly what the command does: `vzdump: <id>` is `ctdump backup`,
// `verify: <id>` is `ctdump verify`, `gc: <id>` is `ctdump gc`,
// `compact: <id>` is `ctdump compact`,
// `restore-test: <id>` is `ctdump restore-test` (one per selected backup),
// `sync: <id>` is `ctdump sync`.
//
// Every runner logs through `out` (the job command wraps it to capture the
// log for the notification) and returns an exit code (command.h).
#ifndef CTDUMP_CLI_JOB_RUNNERS_H_
#define CTDUMP_CLI_JOB_RUNNERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backup/job.h"
#include "backup/job_options.h"
#include "cli/command.h"

namespace ctdump::cli {

// vzdump's notification options of a backup job: the command line's or the
// job section's, else ctdump.conf's (cmd_backup.cc).
struct BackupNotifyOptions {
  std::vector<std::string> mailto;               // mailto: addresses (comma/space list)
  std::optional<std::string> mailnotification;   // always | failure (default always)
  std::optional<std::string> notification_mode;  // auto | legacy-sendmail | notification-system
};

// `ctdump backup`: resolves, runs the job, records each container's result,
// sends the job's notification. `job_id`: the jobs.cfg id ("" from the CLI),
// the notification's `job-id` field.
int RunBackupCommand(const Context& ctx, Renderer& out, backup::JobOptions job,
                     const BackupNotifyOptions& notify, const std::string& job_id);

// `ctdump verify <storage>` as a job (cmd_verify.cc).
struct VerifyRun {
  std::string storage;
  std::optional<std::string> vmid;  // only this container's backups
  // Skip snapshots verified successfully within this many days (PBS's
  // ignore-verified + outdated-after); nullopt: verify everything.
  std::optional<uint32_t> skip_verified_days;
};
int RunVerifyCommand(const Context& ctx, Renderer& out, const VerifyRun& run);

// `ctdump gc <storage>` (cmd_gc.cc).
int RunGcCommand(const Context& ctx, Renderer& out, const std::string& storage, bool dry_run);

// `ctdump compact <storage>` (cmd_compact.cc).
struct CompactRun {
  std::string storage;
  std::optional<int> level;  // zstd level; nullopt: the storage's compact-level
  bool all = false;
  bool dry_run = false;
};
int RunCompactCommand(const Context& ctx, Renderer& out, const CompactRun& run);

// `ctdump sync <source> <target>` (cmd_sync.cc).
struct SyncRun {
  std::string source;  // datastore storage ids
  std::string target;
  std::vector<std::string> vmids;         // empty: every container of the source
  std::optional<uint32_t> transfer_last;  // only the newest N of each container
  bool remove_vanished = false;
};
int RunSyncCommand(const Context& ctx, Renderer& out, const SyncRun& run);
// "101,102" and repeated values as one list, each once, in order.
std::vector<std::string> SplitVmidList(const std::vector<std::string>& values);

// `ctdump restore-test <volume>` (cmd_restore_test.cc).
struct RestoreTestRun {
  std::string volume;  // <storage>:<volname>
  std::string check;   // command run inside; empty: /bin/true
  uint32_t timeout_s = 300;
};
int RunRestoreTestCommand(const Context& ctx, Renderer& out, const RestoreTestRun& run);

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_JOB_RUNNERS_H_
