// Mounts: the job's private mount namespace and RAII bind mounts.
#ifndef CTDUMP_SYS_MOUNT_H_
#define CTDUMP_SYS_MOUNT_H_

#include <string>

#include "ctdump/status.h"
#include "sys/unique_fd.h"

namespace ctdump::sys {

// Moves the calling process (called before it starts any thread, so that all
// its threads share the namespace) into a new mount namespace whose
// mounts are slaves of the host's: mounts made afterwards are invisible to the
// rest of the host and vanish when the process dies. Idempotent.
Status EnterPrivateMountNamespace();

// A read-only, nosuid, nodev bind mount, unmounted (lazily, with everything
// below it) when the guard goes away. Mounts are made with open_tree +
// mount_setattr + move_mount: the tree is read-only before it becomes
// visible, and the guard unmounts through a descriptor of the mount itself,
// never by re-resolving a path.
class MountGuard {
 public:
  MountGuard() = default;
  MountGuard(MountGuard&&) noexcept = default;
  MountGuard& operator=(MountGuard&& o) noexcept;
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  ~MountGuard() { Unmount().IgnoreError(); }

  // Bind-mounts `source` (recursively) at the directory `target`, which is
  // trusted (created by ctdump).
  static Result<MountGuard> BindReadOnly(const std::string& source, const std::string& target);

  // Bind-mounts `source` at `root`/`relative`, where the path below `root`
  // is controlled by a container: it is resolved without following any
  // symlink and without leaving `root` (openat2 RESOLVE_IN_ROOT |
  // RESOLVE_NO_SYMLINKS), so a planted symlink cannot redirect the mount
  // onto a host path. `relative` names the place in errors.
  static Result<MountGuard> BindReadOnlyBeneath(const std::string& source, const std::string& root,
                                                const std::string& relative);

  Status Unmount();

 private:
  static Result<MountGuard> Attach(const std::string& source, int target_fd,
                                   const std::string& target_name);
  UniqueFd mount_fd_;  // the attached tree
  std::string name_;   // for messages
};

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_MOUNT_H_
