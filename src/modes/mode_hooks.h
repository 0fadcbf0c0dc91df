// The hook-script phases a mode runs around interrupting a container.
//
// vzdump's modes call the job's hook script with `pre-stop` before they stop
// or freeze the container, and `pre-restart` / `post-restart` around giving
// it back. The job implements this interface (with the script, the
// container's vmid, the environment and its task log); a mode only says
// which phase and in which mode.
#ifndef CTDUMP_MODES_MODE_HOOKS_H_
#define CTDUMP_MODES_MODE_HOOKS_H_

#include "ctdump/status.h"

namespace ctdump::modes {

enum class HookPhase { kPreStop, kPreRestart, kPostRestart };

// "pre-stop", "pre-restart", "post-restart".
const char* HookPhaseName(HookPhase phase);

class ModeHooks {
 public:
  virtual ~ModeHooks() = default;
  // Runs `phase` for the session's container in mode `mode` ("stop",
  // "suspend", "snapshot"). An error is the script's failure; whether it
  // fails the step (pre-stop) or is a warning (the restart phases) is the
  // mode's decision.
  virtual Status Run(HookPhase phase, const char* mode) = 0;
};

}  // namespace ctdump::modes

#endif  // CTDUMP_MODES_MODE_HOOKS_H_
