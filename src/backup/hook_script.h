// vzdump-compatible hook scripts (`--script`).
//
// Job phases run `<script> <phase>` (job-init, job-start, job-end,
// job-abort); guest phases run `<script> <phase> <mode> <vmid>` (backup-start,
// pre-stop, pre-restart, post-restart, backup-end, backup-abort, log-end).
// The environment is vzdump's (PVE::VZDump::run_hook_script): in every phase
// STOREID (the storage; unset with --dumpdir) and DUMPDIR (the directory the
// files go to: a dir storage's <path>/dump or --dumpdir; unset for provider and
// datastore storages, like PBS); in guest phases VMTYPE, HOSTNAME, TARGET (a
// dir storage's full archive path, else the provider's archive name) and
// LOGFILE (a dir storage's full log path) once known. Unset values are absent.
//
// Output lines go to the log as they come; a non-zero exit is an error. Like
// vzdump, no timeout applies; SIGINT/SIGTERM to ctdump kill the script's
// process group and fail the phase.
#ifndef CTDUMP_BACKUP_HOOK_SCRIPT_H_
#define CTDUMP_BACKUP_HOOK_SCRIPT_H_

#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::backup {

struct HookEnv {
  std::string storeid;
  std::string dumpdir;
  std::string vmtype;
  std::string hostname;
  std::string target;
  std::string logfile;
};

class HookScript {
 public:
  HookScript(std::string script, Observer* observer)
      : script_(std::move(script)), observer_(observer) {}

  bool enabled() const { return !script_.empty(); }
  Status RunJobPhase(const std::string& phase, const HookEnv& env) const;
  // Output goes to `log` (the container's task log).
  Status RunGuestPhase(const std::string& phase, const std::string& mode, const std::string& vmid,
                       const HookEnv& env, Observer* log) const;

 private:
  Status Run(std::vector<std::string> argv, const HookEnv& env, Observer* log) const;

  std::string script_;
  Observer* observer_;
};

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_HOOK_SCRIPT_H_
