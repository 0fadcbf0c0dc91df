#include "modes/volume_snapshot.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <vector>

#include "sys/file.h"
#include "sys/subprocess.h"
#include "sys/unique_fd.h"

namespace ctdump::modes {

bool IsBtrfsSubvolume(const std::string& path) {
  return btrfs_util_is_subvolume(path.c_str()) == BTRFS_UTIL_OK;
}

bool SupportsReflink(const std::string& dir) {
  std::string a = dir + "/.ctdump-reflink-probe.XXXXXX";
  std::vector<char> name(a.begin(), a.end());
  name.push_back('\0');
  sys::UniqueFd src(::mkostemp(name.data(), O_CLOEXEC));
  if (!src.valid()) return false;
  std::string src_path(name.data()), dst_path = src_path + ".clone";
  bool ok = ::write(src.get(), "x", 1) == 1;
  sys::UniqueFd dst(::open(dst_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ok = ok && dst.valid() && ::ioctl(dst.get(), FICLONE, src.get()) == 0;
  ::unlink(src_path.c_str());
  ::unlink(dst_path.c_str());
  return ok;
}

Status CreateBtrfsSnapshot(const std::string& source, const std::string& snapshot) {
  btrfs_util_error e = btrfs_util_create_snapshot(
      source.c_str(), snapshot.c_str(), BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, nullptr, nullptr);
  if (e != BTRFS_UTIL_OK) return IOError(btrfs_util_strerror(e));
  return Status::OK();
}

Status DeleteBtrfsSnapshot(const std::string& snapshot) {
  btrfs_util_error e = btrfs_util_delete_subvolume(snapshot.c_str(), 0);
  if (e != BTRFS_UTIL_OK && sys::PathExists(snapshot))
    return IOError(
        fmt::format("unable to delete snapshot '{}': {}", snapshot, btrfs_util_strerror(e)));
  return Status::OK();
}

Status ReflinkCopy(const std::string& source, const std::string& copy) {
  RETURN_IF_ERROR(sys::MakeDirs(copy, 0700));
  sys::SpawnOptions o;
  o.argv = {"cp", "-a", "--reflink=always", "--one-file-system", source + "/.", copy};
  ASSIGN_OR_RETURN(auto r, sys::RunCommand(o));
  if (!sys::ExitedOk(r.wait_status)) return IOError(r.output.substr(0, r.output.find('\n')));
  return Status::OK();
}

}  // namespace ctdump::modes
