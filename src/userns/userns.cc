#include "userns/userns.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>

#include "sys/file.h"

namespace ctdump::userns {
namespace {

Status WriteProcFile(pid_t pid, const char* name, const std::string& text) {
  std::string path = fmt::format("/proc/{}/{}", pid, name);
  sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  // The kernel requires the whole map in a single write().
  ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n != static_cast<ssize_t>(text.size()))
    return ErrnoError(n < 0 ? errno : EIO, fmt::format("Failed to write \"{}\"", path));
  return Status::OK();
}

// Reads one byte, retrying on EINTR. Returns the byte, or -1 on EOF/error.
int ReadByte(int fd) {
  char c;
  for (;;) {
    ssize_t n = ::read(fd, &c, 1);
    if (n == 1) return static_cast<unsigned char>(c);
    if (n < 0 && errno == EINTR) continue;
    return -1;
  }
}

}  // namespace

Result<sys::Subprocess> SpawnAsContainerRoot(const IdMap& map, const sys::SpawnOptions& options) {
  return ForkAsContainerRoot(map, options, nullptr);
}

Result<sys::Subprocess> ForkAsContainerRoot(const IdMap& map, const sys::SpawnOptions& options,
                                            std::function<int()> fn) {
  // A map that reaches host id 0 would let "container root" become host
  // root inside the namespace (setuid to the mapped id): refuse it.
  for (const auto& e : map.entries()) {
    if (e.host_start == 0)
      return PermissionDeniedError(fmt::format(
          "ID map ({}) maps container {} {} to host id 0: refusing to run the worker with host "
          "root's identity inside the user namespace",
          map.ToString(), e.type == 'u' ? "uid" : "gid", e.ct_start));
  }
  sys::SpawnHooks hooks;
  hooks.run = std::move(fn);
  if (map.empty()) {
    hooks.child = [](const char** stage) -> int {
      *stage = "unshare(NEWNS)";
      if (::unshare(CLONE_NEWNS) != 0) return errno;
      *stage = "make mounts private";
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
      return 0;
    };
    return sys::Spawn(options, &hooks);
  }

  sys::UniqueFd ready[2], go[2];  // child -> parent "1", parent -> child "2"
  RETURN_IF_ERROR(sys::MakePipe(ready));
  RETURN_IF_ERROR(sys::MakePipe(go));
  const int ready_w = ready[1].get(), ready_r = ready[0].get();
  const int go_r = go[0].get(), go_w = go[1].get();
  hooks.child = [ready_w, ready_r, go_r, go_w](const char** stage) -> int {
    // Keep only our ends: if ctdump dies, the read below sees EOF.
    ::close(ready_r);
    ::close(go_w);
    *stage = "setgroups(0) before unshare";
    if (::setgroups(0, nullptr) != 0) return errno;
    *stage = "unshare(NEWUSER|NEWNS)";
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return errno;
    *stage = "sync write";
    if (::write(ready_w, "1", 1) != 1) return errno ? errno : EIO;
    *stage = "sync read failed (expected message \"2\")";
    if (ReadByte(go_r) != '2') return EPROTO;
    *stage = "setgroups(0)";
    if (::setgroups(0, nullptr) != 0) return errno;
    *stage = "setresgid(0)";
    if (::setresgid(0, 0, 0) != 0) return errno;
    *stage = "setresuid(0)";
    if (::setresuid(0, 0, 0) != 0) return errno;
    *stage = "make mounts private";
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
    return 0;
  };
  const std::string uid_map = map.UidMapText();
  const std::string gid_map = map.GidMapText();
  hooks.parent = [&](pid_t pid) -> Status {
    ready[1].Reset();
    go[0].Reset();
    // EOF: the child failed before unsharing; Spawn() reports its error.
    if (ReadByte(ready[0].get()) != '1') return Status::OK();
    RETURN_IF_ERROR(WriteProcFile(pid, "uid_map", uid_map));
    RETURN_IF_ERROR(WriteProcFile(pid, "gid_map", gid_map));
    return sys::WriteAll(go[1].get(), "2", "user namespace sync pipe");
  };
  auto proc = sys::Spawn(options, &hooks);
  if (!proc.ok())
    return proc.status().WithContext(fmt::format("user namespace ({})", map.ToString()));
  return proc;
}

}  // namespace ctdump::userns
