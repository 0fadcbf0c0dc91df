// Mode `snapshot`: a consistent view under a short freeze.
//
// Each included volume (rootfs and mount points) that is a btrfs subvolume
// gets a read-only btrfs snapshot; any other volume on a file system with
// reflinks (xfs, btrfs) gets a reflink copy made under the same freeze (its
// cost grows with the number of files, see docs/modes.md). If some volume
// supports neither, Prepare() reports a mode failure and the job falls back
// to `suspend`, as vzdump does. The snapshots are mounted read-only in the
// job's private mount namespace and removed when the provider is done; a
// leftover of an interrupted run is removed by the next run's Prepare().
#include <btrfsutil.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backup/freeze.h"
#include "backup/mode.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::backup {
namespace {

enum class Method { kBtrfsSnapshot, kReflinkCopy };

struct Volume {
  std::string key;       // "rootfs", "mp0", ...
  std::string path;      // in the container ("/" for rootfs)
  std::string source;    // host directory
  std::string snapshot;  // where the snapshot / copy goes (host)
  Method method = Method::kBtrfsSnapshot;
  bool taken = false;
};

std::string Dirname(const std::string& p) { return p.substr(0, p.rfind('/')); }
std::string Basename(const std::string& p) { return p.substr(p.rfind('/') + 1); }

// True when the file system of `dir` can share extents (FICLONE works).
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

Status RemoveSnapshot(const Volume& v) {
  if (v.method == Method::kBtrfsSnapshot) {
    btrfs_util_error e = btrfs_util_delete_subvolume(v.snapshot.c_str(), 0);
    if (e != BTRFS_UTIL_OK && sys::PathExists(v.snapshot))
      return IOError(
          fmt::format("unable to delete snapshot '{}': {}", v.snapshot, btrfs_util_strerror(e)));
    return Status::OK();
  }
  return sys::RemoveTree(v.snapshot);
}

class SnapshotMode : public ModeSession {
 public:
  explicit SnapshotMode(const ModeContext& ctx) : ctx_(ctx), frozen_(ctx.container, ctx.log) {}
  ~SnapshotMode() override {
    Status s = Leave();
    if (!s.ok()) ctx_.log->Log(LogLevel::kErr, s.message());
  }

  const std::string& name() const override {
    static const std::string kName = "snapshot";
    return kName;
  }

  Status Prepare() override {
    AddVolume("rootfs", "/", ctx_.config->rootfs_path);
    for (const MountPoint* mp : ctx_.included_mounts) AddVolume(mp->key, mp->path, mp->source);
    for (auto& v : volumes_) {
      if (btrfs_util_is_subvolume(v.source.c_str()) == BTRFS_UTIL_OK) {
        v.method = Method::kBtrfsSnapshot;
        v.snapshot = Dirname(v.source) + "/.ctdump-snap." + Basename(v.source);
      } else if (SupportsReflink(Dirname(v.source))) {
        v.method = Method::kReflinkCopy;
        v.snapshot = Dirname(v.source) + "/.ctdump-reflink." + Basename(v.source);
      } else {
        return ModeFailure("some volumes do not support snapshots");
      }
      if (sys::PathExists(v.snapshot)) {
        ctx_.log->Log(
            LogLevel::kInfo,
            fmt::format("removing leftover snapshot '{}' of an interrupted backup", v.snapshot));
        RETURN_IF_ERROR(RemoveSnapshot(v));
      }
    }
    return Status::OK();
  }

  Result<ConsistentTree> Enter() override {
    RETURN_IF_ERROR(sys::CheckInterrupted());
    RETURN_IF_ERROR(
        ctx_.hooks->RunGuestPhase("pre-stop", "snapshot", ctx_.vmid, *ctx_.hook_env, ctx_.log));
    ctx_.log->Log(LogLevel::kInfo, "create storage snapshot 'vzdump'");
    Status taken = TakeAll();
    Status thawed = Resume();
    RETURN_IF_ERROR(taken);
    RETURN_IF_ERROR(thawed);
    return MountAll();
  }

  Status Resume() override { return ThawWithHooks(ctx_, "snapshot", frozen_); }

  Status Leave() override {
    Status first = Resume();
    Status u = UnmountAll(mounts_);
    if (first.ok()) first = u;
    bool announced = false;
    for (auto& v : volumes_) {
      if (!v.taken) continue;
      if (!announced) ctx_.log->Log(LogLevel::kInfo, "cleanup temporary 'vzdump' snapshot");
      announced = true;
      Status s = RemoveSnapshot(v);
      if (!s.ok()) {
        ctx_.log->Log(LogLevel::kWarn,
                      "snapshot 'vzdump' was not (fully) removed - " + s.message());
        if (first.ok()) first = s;
      }
      v.taken = false;
    }
    if (first.ok())
      ctx_.journal
          ->Update([](JournalState& j) {
            j.snapshots.clear();
            j.copies.clear();
          })
          .IgnoreError();
    return first;
  }

 private:
  void AddVolume(const std::string& key, const std::string& path, const std::string& source) {
    Volume v;
    v.key = key;
    v.path = path;
    v.source = source;
    volumes_.push_back(v);
  }

  Status TakeAll() {
    bool running =
        ctx_.container->IsRunning() && ctx_.container->GetState() != container::State::kFrozen;
    // Written before the freeze, so the freeze window holds no fsync.
    RETURN_IF_ERROR(ctx_.journal->Update([&](JournalState& j) {
      j.frozen = running;
      for (const auto& v : volumes_)
        (v.method == Method::kBtrfsSnapshot ? j.snapshots : j.copies).push_back(v.snapshot);
    }));
    if (running) RETURN_IF_ERROR(frozen_.Freeze());
    for (auto& v : volumes_) {
      sys::UniqueFd fd(::open(v.source.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd.valid() || ::syncfs(fd.get()) != 0)
        return ErrnoError(errno, fmt::format("Failed to sync \"{}\"", v.source));
      v.taken = true;  // from here on Leave() must remove it
      if (v.method == Method::kBtrfsSnapshot) {
        btrfs_util_error e =
            btrfs_util_create_snapshot(v.source.c_str(), v.snapshot.c_str(),
                                       BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY, nullptr, nullptr);
        if (e != BTRFS_UTIL_OK) {
          v.taken = false;
          return IOError(fmt::format("unable to snapshot {} ('{}'): {}", v.key, v.source,
                                     btrfs_util_strerror(e)));
        }
      } else {
        RETURN_IF_ERROR(ReflinkCopy(v));
      }
    }
    return Status::OK();
  }

  Status ReflinkCopy(const Volume& v) {
    RETURN_IF_ERROR(sys::MakeDirs(v.snapshot, 0700));
    sys::SpawnOptions o;
    o.argv = {"cp", "-a", "--reflink=always", "--one-file-system", v.source + "/.", v.snapshot};
    ASSIGN_OR_RETURN(auto r, sys::RunCommand(o));
    if (!sys::ExitedOk(r.wait_status))
      return IOError(fmt::format("reflink copy of {} ('{}') failed: {}", v.key, v.source,
                                 r.output.substr(0, r.output.find('\n'))));
    return Status::OK();
  }

  Result<ConsistentTree> MountAll() {
    ConsistentTree tree{ctx_.directory, {}};
    for (const auto& v : volumes_) {
      if (v.method != Method::kBtrfsSnapshot) tree.copied = true;
      Result<sys::MountGuard> m =
          v.path == "/" ? sys::MountGuard::BindReadOnly(v.snapshot, ctx_.directory)
                        : sys::MountGuard::BindReadOnlyBeneath(v.snapshot, ctx_.directory, v.path);
      if (!m.ok()) return m.status().WithContext(fmt::format("mount point {}", v.key));
      mounts_.push_back(std::move(*m));
      tree.sources.push_back(v.path == "/" ? "./" : "." + v.path);
    }
    return tree;
  }

  ModeContext ctx_;
  FrozenContainer frozen_;
  std::vector<Volume> volumes_;
  std::vector<sys::MountGuard> mounts_;
};

}  // namespace

std::unique_ptr<ModeSession> MakeSnapshotMode(const ModeContext& ctx) {
  return std::make_unique<SnapshotMode>(ctx);
}

}  // namespace ctdump::backup
