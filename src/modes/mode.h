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
//
// The modes sit below the job: what they need from it comes through narrow
// interfaces (container::Control, ModeHooks for the hook script's phases,
// ModeJournal for what a SIGKILL would leave to undo), which the job
// implements and tests fake.
#ifndef CTDUMP_MODES_MODE_H_
#define CTDUMP_MODES_MODE_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "container/control.h"
#include "ctdump/container_config.h"
#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "modes/mode_hooks.h"
#include "modes/mode_journal.h"
#include "sys/mount.h"

namespace ctdump::modes {

// Everything a mode session uses; the pointers are not owned and must
// outlive the session.
struct ModeContext {
  container::Control* container = nullptr;
  const ContainerConfig* config = nullptr;
  Observer* log = nullptr;
  ModeHooks* hooks = nullptr;
  std::string vmid;
  std::string directory;  // where the tree is to appear (exists, empty)
  std::chrono::seconds stopwait{600};
  std::vector<const MountPoint*> included_mounts;  // mount points to back up
  std::string tmpdir;  // the container's job scratch directory (suspend copies into it)
  std::vector<std::string> exclude_patterns;  // suspend: applied while copying
  uint64_t bwlimit_kib = 0;                   // suspend: limits the copy's file data too
  // Records, before each risky step, what a SIGKILL would leave to undo.
  ModeJournal* journal = nullptr;
  const IdMap* map = nullptr;  // the container's ID map (suspend copies as its root)
  // suspend: the provider takes a first pass over the running tree itself
  // (Provider::SupportsLivePass): LiveView() gives it the mounted tree and
  // Enter() freezes and gives the same tree, with no copy.
  bool live_pass = false;
};

// The consistent view a mode produced: INFO's `directory` and `sources`.
struct ConsistentTree {
  std::string directory;
  std::vector<std::string> sources;
  // The tree is a copy (suspend's copy, snapshot's reflink copies): inode
  // numbers and ctimes are the copy's, not the container's.
  bool copied = false;
};

// "mode failure - ...": snapshot mode cannot work here; the job tries
// `suspend` instead, logging "trying 'suspend' mode instead" as vzdump does.
Status ModeFailure(std::string why);
bool IsModeFailure(const Status& s);

class ModeSession {
 public:
  virtual ~ModeSession() = default;
  virtual const std::string& name() const = 0;
  // Checks, before backup_init, that the mode can work for this container
  // (snapshot: every volume can be snapshotted or reflink-copied), and
  // removes leftovers of an interrupted earlier run.
  virtual Status Prepare() { return Status::OK(); }
  // Interrupts the container as little as the mode allows and returns the
  // consistent tree ("./", "./mnt/data", ... below the directory).
  virtual Result<ConsistentTree> Enter() = 0;
  // suspend with ModeContext::live_pass: the running container's tree,
  // mounted, before Enter() freezes it (the provider's first pass reads it).
  virtual bool HasLiveView() const { return false; }
  virtual Result<ConsistentTree> LiveView() {
    return FailedPreconditionError("this backup mode has no live view");
  }
  // Restart/thaw; idempotent. An error means the container is not back.
  virtual Status Resume() = 0;
  // Resume() if needed, then unmount; idempotent; tries every step.
  virtual Status Leave() = 0;
};

// Creates mode sessions; the job gets one (the real modes by default).
class ModeFactory {
 public:
  virtual ~ModeFactory() = default;
  // `mode` is "stop", "suspend" or "snapshot"; anything else is InvalidArgument.
  virtual Result<std::unique_ptr<ModeSession>> Create(const std::string& mode,
                                                      const ModeContext& ctx) = 0;
};

// The real modes (CreateModeSession).
ModeFactory& RealModes();

// `mode` is "stop", "suspend" or "snapshot". A container that is not running
// is backed up in "stop" mode (nothing to stop), as vzdump does.
Result<std::unique_ptr<ModeSession>> CreateModeSession(const std::string& mode,
                                                       const ModeContext& ctx);

std::unique_ptr<ModeSession> MakeStopMode(const ModeContext& ctx);

class FrozenContainer;
// Shared by the freezing modes: hook pre-restart, thaw, journal, hook
// post-restart (hook failures are warnings). No-op when not frozen by us.
Status ThawWithHooks(const ModeContext& ctx, const char* mode, FrozenContainer& frozen);
// Unmounts in reverse order (deepest first), trying all; the first error.
Status UnmountAll(std::vector<sys::MountGuard>& mounts);
std::unique_ptr<ModeSession> MakeSuspendMode(const ModeContext& ctx);
std::unique_ptr<ModeSession> MakeSnapshotMode(const ModeContext& ctx);

}  // namespace ctdump::modes

#endif  // CTDUMP_MODES_MODE_H_
