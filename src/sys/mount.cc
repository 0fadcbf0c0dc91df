#include "sys/mount.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>

#include <fmt/format.h>

namespace ctdump::sys {

static bool g_private_ns = false;

Status EnterPrivateMountNamespace() {
  if (g_private_ns) return Status::OK();
  if (::unshare(CLONE_NEWNS) != 0) return ErrnoError(errno, "unshare(CLONE_NEWNS)");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0)
    return ErrnoError(errno, "Failed to make / a recursive slave mount");
  g_private_ns = true;
  return Status::OK();
}

MountGuard& MountGuard::operator=(MountGuard&& o) noexcept {
  if (this != &o) {
    Unmount().IgnoreError();
    target_ = std::move(o.target_);
    o.target_.clear();
  }
  return *this;
}

Result<MountGuard> MountGuard::BindReadOnly(const std::string& source, const std::string& target) {
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return ErrnoError(errno, fmt::format("Failed to bind-mount \"{}\" at \"{}\"", source, target));
  MountGuard g;
  g.target_ = target;
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (::mount_setattr(AT_FDCWD, target.c_str(), AT_RECURSIVE, &attr, sizeof(attr)) != 0)
    return ErrnoError(errno, fmt::format("Failed to make \"{}\" read-only", target));
  return g;
}

Status MountGuard::Unmount() {
  if (target_.empty()) return Status::OK();
  std::string t = std::move(target_);
  target_.clear();
  if (::umount2(t.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return ErrnoError(errno, fmt::format("Failed to unmount \"{}\"", t));
  return Status::OK();
}

}  // namespace ctdump::sys
