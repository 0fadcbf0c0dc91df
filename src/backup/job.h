// A backup job: vzdump's flow around the Backup Provider API.
//
//   job:   global lock -> hook job-init -> open storage (provider) ->
//          private mount namespace -> job_init -> hook job-start ->
//          [guest]... -> job_cleanup -> hook job-end
//          (on failure: job_cleanup again, hook job-abort)
//   guest: log file -> config, ID map -> container lock -> backup_init ->
//          hook backup-start -> mode Enter (stop: pre-stop, shutdown, mount) ->
//          starting external backup via <provider> -> [privileged warning] ->
//          backup_get_mechanism -> backup_container_prepare (root) ->
//          backup_container (container root, user namespace) ->
//          mode Leave (unmount, restart) -> backup_cleanup(success) ->
//          hook backup-end -> unlock, tmpdir removal
//          (on failure: local cleanup first, then backup_cleanup(failure),
//          hook backup-abort; the next container still runs)
//          -> backup_handle_log_file -> hook log-end
//
// The order, log lines and failure consequences follow
// pve-backup-provider-api.md §4.4 and §5.1-5.3. A failing guest never stops
// the job, except for an interruption by signal and a failing
// backup_handle_log_file, which abort the remaining guests as in vzdump.
#ifndef CTDUMP_BACKUP_JOB_H_
#define CTDUMP_BACKUP_JOB_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backup/job_options.h"
#include "container/control.h"
#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "modes/mode.h"
#include "registry/registry.h"

namespace ctdump::backup {

struct GuestResult {
  std::string vmid;
  Status status;                 // OK or why the guest's backup failed
  std::string archive;           // archive name, when backup_init succeeded
  std::optional<uint64_t> size;  // from backup_cleanup's stats
  // The backup's logical size (file data) as its progress counted it; after
  // a failure the previous backup's. The next backup's progress total.
  std::optional<uint64_t> logical_bytes;
  int64_t seconds = 0;
  int warnings = 0;
};

struct JobResult {
  Status status;  // job-level failure (storage, lock, job_init, hooks, ...) or OK
  std::vector<GuestResult> guests;
  // ResolvedJobOptions::selection_warnings: they fail the job (exit non-zero)
  // although every selected guest may have been backed up.
  std::vector<std::string> selection_warnings;
  bool ok() const;
};

// What the job reaches outside the process through, so that tests can drive
// it with a recording provider, fake containers and fake modes. An empty or
// null member is the real one.
struct JobSeams {
  // Opens the job's storage (the provider and its settings). Real:
  // registry::OpenDumpDir for --dumpdir, else registry::OpenBackupStorage.
  std::function<Result<registry::BackupStorage>(const registry::BackupJobSettings& settings,
                                                Observer* observer)>
      open_storage;
  container::Opener* containers = nullptr;  // real: liblxc (container::LxcOpener)
  modes::ModeFactory* modes = nullptr;      // real: modes::RealModes
  // Enters the job's private mount namespace. Real: remembers the host's
  // (container::RememberHostMountNamespace), then sys::EnterPrivateMountNamespace.
  std::function<Status()> enter_mount_namespace;
};

// Runs one backup job. Logs through `observer`; never prints.
JobResult RunBackupJob(const ResolvedJobOptions& options, const Paths& paths, Observer* observer,
                       const JobSeams& seams = {});

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_JOB_H_
