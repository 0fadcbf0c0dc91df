// Backup modes: how a job gets a consistent view of a container's tree.
//
// A ModeSession is created per container. Enter() makes the tree available at
// the session's directory (mounted in the job's private mount namespace) and
// returns the sources below it; Resume() ends the container's interruption
// (restart after stop, thaw after freeze) as soon as the provider is done;
// Leave() does Resume() if still needed and removes mounts and snapshots (after
// backup_cleanup, as in PVE). Both are idempotent and the destructor calls
// Leave(), so every exit path — success, provider failure, SIGINT/SIGTERM —
// leaves the container as it was.
//
// stop: clean shutdown within stopwait, rootfs (and included mount points)
// bind-mounted read-only at the directory, restart as soon as the provider
// is done. suspend and snapshot implement the same interface.
#ifndef CTDUMP_BACKUP_MODE_H_
#define CTDUMP_BACKUP_MODE_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "backup/hook_script.h"
#include "container/container.h"
#include "ctdump/container_config.h"
#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "sys/mount.h"

namespace ctdump::backup {

struct ModeContext {
  container::Container* container = nullptr;
  const ContainerConfig* config = nullptr;
  Observer* log = nullptr;
  const HookScript* hooks = nullptr;
  HookEnv hook_env;
  std::string vmid;
  std::string directory;  // where the tree is to appear (exists, empty)
  std::chrono::seconds stopwait{600};
  std::vector<const MountPoint*> included_mounts;  // mount points to back up
};

class ModeSession {
 public:
  virtual ~ModeSession() = default;
  virtual const std::string& name() const = 0;
  // Returns the sources relative to the directory ("./", "./mnt/data", ...).
  virtual Result<std::vector<std::string>> Enter() = 0;
  // Restart/thaw; idempotent. An error means the container is not back.
  virtual Status Resume() = 0;
  // Resume() if needed, then unmount; idempotent; tries every step.
  virtual Status Leave() = 0;
};

// `mode` is "stop" for now; `running` is the container's state at job start
// (a stopped container is backed up in stop mode without a stop).
Result<std::unique_ptr<ModeSession>> CreateModeSession(const std::string& mode,
                                                       const ModeContext& ctx);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_MODE_H_
