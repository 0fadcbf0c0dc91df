// Mounts: the job's private mount namespace and RAII bind mounts.
#ifndef CTDUMP_SYS_MOUNT_H_
#define CTDUMP_SYS_MOUNT_H_

#include <string>

#include "ctdump/status.h"

namespace ctdump::sys {

// Moves the calling (single-threaded) process into a new mount namespace whose
// mounts are slaves of the host's: mounts made afterwards are invisible to the
// rest of the host and vanish when the process dies. Idempotent.
Status EnterPrivateMountNamespace();

// A mount that is unmounted (lazily, MNT_DETACH) when the guard goes away.
class MountGuard {
 public:
  MountGuard() = default;
  MountGuard(MountGuard&& o) noexcept : target_(std::move(o.target_)) { o.target_.clear(); }
  MountGuard& operator=(MountGuard&& o) noexcept;
  MountGuard(const MountGuard&) = delete;
  MountGuard& operator=(const MountGuard&) = delete;
  ~MountGuard() { Unmount().IgnoreError(); }

  // Recursive read-only bind mount of `source` at `target` (which must exist).
  static Result<MountGuard> BindReadOnly(const std::string& source, const std::string& target);

  const std::string& target() const { return target_; }
  Status Unmount();

 private:
  std::string target_;
};

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_MOUNT_H_
