// vzdump-compatible hook scripts (`--script`).
//
// Job phases run `<script> <phase>` (job-init, job-start, job-end,
// job-abort); guest phases run `<script> <phase> <mode> <vmid>` (backup-start,
// pre-stop, pre-restart, post-restart, backup-end, backup-abort, log-end).
// The environment carries STOREID, VMTYPE, HOSTNAME and TARGET (the archive
// name) when known; DUMPDIR and LOGFILE are unset, as vzdump does for provider
// storages. Output lines go to the log as they come; a non-zero exit is an
// error. Like vzdump, no timeout applies; SIGINT/SIGTERM to ctdump kill the
// script's process group and fail the phase.
#ifndef CTDUMP_BACKUP_HOOK_SCRIPT_H_
#define CTDUMP_BACKUP_HOOK_SCRIPT_H_

#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::backup {

struct HookEnv {
  std::string storeid;
  std::string vmtype;
  std::string hostname;
  std::string target;
};

class HookScript {
 public:
  HookScript(std::string script, Observer* observer) : script_(std::move(script)), observer_(observer) {}

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
