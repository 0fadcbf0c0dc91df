#include "sys/mount.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

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
    mount_fd_ = std::move(o.mount_fd_);
    name_ = std::move(o.name_);
  }
  return *this;
}

Result<MountGuard> MountGuard::Attach(const std::string& source, int target_fd,
                                      const std::string& target_name) {
  UniqueFd tree(
      ::open_tree(AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
  if (!tree.valid())
    return ErrnoError(errno, fmt::format("Failed to clone mount tree of \"{}\"", source));
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) != 0)
    return ErrnoError(errno,
                      fmt::format("Failed to make the bind mount of \"{}\" read-only", source));
  if (::move_mount(tree.get(), "", target_fd, "",
                   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return ErrnoError(errno,
                      fmt::format("Failed to bind-mount \"{}\" at \"{}\"", source, target_name));
  MountGuard g;
  g.mount_fd_ = std::move(tree);
  g.name_ = target_name;
  return g;
}

Result<MountGuard> MountGuard::BindReadOnly(const std::string& source, const std::string& target) {
  UniqueFd t(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!t.valid())
    return ErrnoError(errno, fmt::format("Failed to open mount point \"{}\"", target));
  return Attach(source, t.get(), target);
}

Result<MountGuard> MountGuard::BindReadOnlyBeneath(const std::string& source,
                                                   const std::string& root,
                                                   const std::string& relative) {
  UniqueFd r(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!r.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", root));
  struct open_how how {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  std::string rel = relative;
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  if (rel.empty()) rel = ".";
  int fd = static_cast<int>(::syscall(SYS_openat2, r.get(), rel.c_str(), &how, sizeof(how)));
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP)
      return PermissionDeniedError(fmt::format(
          "mount point '{}' is or passes through a symlink inside the container; refusing to "
          "mount there",
          relative));
    return ErrnoError(
        e, fmt::format("mount point '{}' in the container's root file system", relative));
  }
  UniqueFd t(fd);
  return Attach(source, t.get(), root + "/" + rel);
}

Status MountGuard::Unmount() {
  if (!mount_fd_.valid()) return Status::OK();
  std::string path = fmt::format("/proc/self/fd/{}", mount_fd_.get());
  int rc = ::umount2(path.c_str(), MNT_DETACH);
  int e = errno;
  mount_fd_.Reset();
  if (rc != 0 && e != EINVAL && e != ENOENT)
    return ErrnoError(e, fmt::format("Failed to unmount \"{}\"", name_));
  return Status::OK();
}

}  // namespace ctdump::sys
