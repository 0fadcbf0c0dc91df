// Mode `stop`: shut the container down cleanly, back up its file systems
// while nothing runs, start it again.
#include <time.h>

#include <fmt/format.h>

#include "backup/mode.h"
#include "sys/file.h"

namespace ctdump::backup {
namespace {

class StopMode : public ModeSession {
 public:
  explicit StopMode(const ModeContext& ctx) : ctx_(ctx) {}
  ~StopMode() override {
    Status s = Leave();
    if (!s.ok()) ctx_.log->Log(LogLevel::kWarn, s.message());
  }

  const std::string& name() const override {
    static const std::string kName = "stop";
    return kName;
  }

  Result<std::vector<std::string>> Enter() override {
    if (ctx_.container->IsRunning()) {
      RETURN_IF_ERROR(ctx_.hooks->RunGuestPhase("pre-stop", "stop", ctx_.vmid, ctx_.hook_env));
      ctx_.log->Log(LogLevel::kInfo, "stopping virtual guest");
      stopped_at_ = ::time(nullptr);
      // Marked before the call: a shutdown that half-worked still gets a start.
      must_restart_ = true;
      RETURN_IF_ERROR(ctx_.container->Shutdown(ctx_.stopwait));
    }
    return MountAll();
  }

  Status Leave() override {
    Status first;
    // Unmount in reverse order, deepest first.
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) {
      Status s = it->Unmount();
      if (first.ok() && !s.ok()) first = s;
    }
    mounts_.clear();
    if (must_restart_) {
      must_restart_ = false;
      Status h = ctx_.hooks->RunGuestPhase("pre-restart", "stop", ctx_.vmid, ctx_.hook_env);
      if (!h.ok()) ctx_.log->Log(LogLevel::kWarn, h.message());
      ctx_.log->Log(LogLevel::kInfo, "restarting vm");
      Status s = ctx_.container->Start();
      if (!s.ok()) {
        ctx_.log->Log(LogLevel::kErr, s.message());
        if (first.ok()) first = s;
      } else {
        h = ctx_.hooks->RunGuestPhase("post-restart", "stop", ctx_.vmid, ctx_.hook_env);
        if (!h.ok()) ctx_.log->Log(LogLevel::kWarn, h.message());
        ctx_.log->Log(LogLevel::kInfo, fmt::format("guest is online again after {} seconds",
                                                   ::time(nullptr) - stopped_at_));
      }
    }
    return first;
  }

 private:
  Result<std::vector<std::string>> MountAll() {
    const auto& cfg = *ctx_.config;
    ASSIGN_OR_RETURN(auto root, sys::MountGuard::BindReadOnly(cfg.rootfs_path, ctx_.directory));
    mounts_.push_back(std::move(root));
    std::vector<std::string> sources = {"./"};
    for (const MountPoint* mp : ctx_.included_mounts) {
      std::string target = ctx_.directory + mp->path;
      if (!sys::IsDirectory(target))
        return FailedPreconditionError(fmt::format(
            "mount point {} ('{}'): directory '{}' missing in the container's root file system",
            mp->key, mp->path, mp->path));
      ASSIGN_OR_RETURN(auto m, sys::MountGuard::BindReadOnly(mp->source, target));
      mounts_.push_back(std::move(m));
      sources.push_back("." + mp->path);
    }
    return sources;
  }

  ModeContext ctx_;
  bool must_restart_ = false;
  int64_t stopped_at_ = 0;
  std::vector<sys::MountGuard> mounts_;
};

}  // namespace

Result<std::unique_ptr<ModeSession>> CreateModeSession(const std::string& mode,
                                                       const ModeContext& ctx) {
  if (mode == "stop") return std::unique_ptr<ModeSession>(new StopMode(ctx));
  return InvalidArgumentError(
      fmt::format("backup mode '{}' is not available yet; use --mode stop", mode));
}

}  // namespace ctdump::backup
