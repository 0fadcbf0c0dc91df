// The job's side of the modes' seams (modes/mode_hooks.h,
// modes/mode_journal.h): the hook phases a mode asks for run the job's hook
// script with the container's environment and task log; what a mode records
// goes to the container's on-disk journal (backup/journal.h).
#ifndef CTDUMP_BACKUP_MODE_ADAPTERS_H_
#define CTDUMP_BACKUP_MODE_ADAPTERS_H_

#include <string>
#include <vector>

#include "backup/hook_script.h"
#include "backup/journal.h"
#include "ctdump/observer.h"
#include "modes/mode_hooks.h"
#include "modes/mode_journal.h"

namespace ctdump::backup {

// Not owned: `script`, `env` and `log` must outlive it. `env` is live: the
// archive name (TARGET) is set after the session was created.
class GuestModeHooks : public modes::ModeHooks {
 public:
  GuestModeHooks(const HookScript* script, std::string vmid, const HookEnv* env, Observer* log)
      : script_(script), vmid_(std::move(vmid)), env_(env), log_(log) {}
  Status Run(modes::HookPhase phase, const char* mode) override;

 private:
  const HookScript* script_;
  std::string vmid_;
  const HookEnv* env_;
  Observer* log_;
};

// Not owned: `journal` must outlive it.
class GuestModeJournal : public modes::ModeJournal {
 public:
  explicit GuestModeJournal(GuestJournal* journal) : journal_(journal) {}
  Status SetStopped(bool stopped) override;
  Status SetFrozen(bool frozen) override;
  Status AddSnapshots(bool freezing, const std::vector<std::string>& snapshots,
                      const std::vector<std::string>& copies) override;
  Status ClearSnapshots() override;

 private:
  GuestJournal* journal_;
};

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_MODE_ADAPTERS_H_
