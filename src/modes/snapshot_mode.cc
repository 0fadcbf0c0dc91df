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
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "modes/freeze.h"
#include "modes/mode.h"
#include "modes/volume_snapshot.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "sys/unique_fd.h"

namespace ctdump::modes {
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

Status RemoveSnapshot(const Volume& v) {
  if (v.method == Method::kBtrfsSnapshot) return DeleteBtrfsSnapshot(v.snapshot);
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
      if (IsBtrfsSubvolume(v.source)) {
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
    RETURN_IF_ERROR(ctx_.hooks->Run(HookPhase::kPreStop, "snapshot"));
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
    if (first.ok()) ctx_.journal->ClearSnapshots().IgnoreError();
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
    std::vector<std::string> snapshots, copies;
    for (const auto& v : volumes_)
      (v.method == Method::kBtrfsSnapshot ? snapshots : copies).push_back(v.snapshot);
    RETURN_IF_ERROR(ctx_.journal->AddSnapshots(running, snapshots, copies));
    if (running) RETURN_IF_ERROR(frozen_.Freeze());
    for (auto& v : volumes_) {
      sys::UniqueFd fd(::open(v.source.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd.valid() || ::syncfs(fd.get()) != 0)
        return ErrnoError(errno, fmt::format("Failed to sync \"{}\"", v.source));
      v.taken = true;  // from here on Leave() must remove it
      if (v.method == Method::kBtrfsSnapshot) {
        Status s = CreateBtrfsSnapshot(v.source, v.snapshot);
        if (!s.ok()) {
          v.taken = false;
          return IOError(
              fmt::format("unable to snapshot {} ('{}'): {}", v.key, v.source, s.message()));
        }
      } else {
        Status s = ReflinkCopy(v.source, v.snapshot);
        if (!s.ok())
          return IOError(
              fmt::format("reflink copy of {} ('{}') failed: {}", v.key, v.source, s.message()));
      }
    }
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

}  // namespace ctdump::modes
