// Mode `stop`: shut the container down cleanly, back up its file systems
// while nothing runs, start it again.
#include <fmt/format.h>
#include <time.h>

#include <thread>

#include "modes/freeze.h"
#include "modes/mode.h"
#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::modes {
namespace {

class StopMode : public ModeSession {
 public:
  explicit StopMode(const ModeContext& ctx) : ctx_(ctx) {}
  ~StopMode() override {
    Status s = Leave();
    if (!s.ok()) ctx_.log->Log(LogLevel::kErr, s.message());
  }

  const std::string& name() const override {
    static const std::string kName = "stop";
    return kName;
  }

  Result<ConsistentTree> Enter() override {
    if (ctx_.container->IsRunning()) {
      if (ctx_.container->GetState() == container::State::kFrozen)
        return FailedPreconditionError(fmt::format(
            "container '{}' is frozen (not by ctdump); thaw it or use --mode snapshot", ctx_.vmid));
      RETURN_IF_ERROR(sys::CheckInterrupted());
      RETURN_IF_ERROR(ctx_.hooks->Run(HookPhase::kPreStop, "stop"));
      RETURN_IF_ERROR(sys::CheckInterrupted());
      ctx_.log->Log(LogLevel::kInfo, "stopping virtual guest");
      stopped_at_ = ::time(nullptr);
      // Marked before the call: a shutdown that half-worked still gets a start.
      must_restart_ = true;
      RETURN_IF_ERROR(ctx_.journal->SetStopped(true));
      RETURN_IF_ERROR(ctx_.container->Shutdown(ctx_.stopwait));
    }
    ASSIGN_OR_RETURN(auto sources, MountAll());
    return ConsistentTree{ctx_.directory, sources};
  }

  Status Resume() override {
    if (!must_restart_) return Status::OK();
    Status h = ctx_.hooks->Run(HookPhase::kPreRestart, "stop");
    if (!h.ok()) ctx_.log->Log(LogLevel::kWarn, h.message());
    ctx_.log->Log(LogLevel::kInfo, "restarting vm");
    Status s = ctx_.container->Start(container::kStartTimeout);
    if (!s.ok()) {
      // One more try: a start can fail transiently (a racing lxc-* command).
      ctx_.log->Log(LogLevel::kWarn, s.message() + " - trying again");
      std::this_thread::sleep_for(std::chrono::seconds(1));
      s = ctx_.container->Start(container::kStartTimeout);
    }
    if (!s.ok()) return s.WithContext(fmt::format("unable to restart container '{}'", ctx_.vmid));
    must_restart_ = false;
    ctx_.journal->SetStopped(false).IgnoreError();
    h = ctx_.hooks->Run(HookPhase::kPostRestart, "stop");
    if (!h.ok()) ctx_.log->Log(LogLevel::kWarn, h.message());
    ctx_.log->Log(LogLevel::kInfo, fmt::format("guest is online again after {} seconds",
                                               ::time(nullptr) - stopped_at_));
    return Status::OK();
  }

  Status Leave() override {
    Status first = Resume();
    Status u = UnmountAll(mounts_);
    if (first.ok()) first = u;
    return first;
  }

 private:
  Result<std::vector<std::string>> MountAll() {
    const auto& cfg = *ctx_.config;
    ASSIGN_OR_RETURN(auto root, sys::MountGuard::BindReadOnly(cfg.rootfs_path, ctx_.directory));
    mounts_.push_back(std::move(root));
    std::vector<std::string> sources = {"./"};
    for (const MountPoint* mp : ctx_.included_mounts) {
      auto m = sys::MountGuard::BindReadOnlyBeneath(mp->source, ctx_.directory, mp->path);
      if (!m.ok()) return m.status().WithContext(fmt::format("mount point {}", mp->key));
      mounts_.push_back(std::move(*m));
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

std::unique_ptr<ModeSession> MakeStopMode(const ModeContext& ctx) {
  return std::make_unique<StopMode>(ctx);
}

Status ThawWithHooks(const ModeContext& ctx, const char* mode, FrozenContainer& frozen) {
  if (!frozen.frozen()) return Status::OK();
  Status h = ctx.hooks->Run(HookPhase::kPreRestart, mode);
  if (!h.ok()) ctx.log->Log(LogLevel::kWarn, h.message());
  RETURN_IF_ERROR(frozen.Thaw());
  ctx.journal->SetFrozen(false).IgnoreError();
  h = ctx.hooks->Run(HookPhase::kPostRestart, mode);
  if (!h.ok()) ctx.log->Log(LogLevel::kWarn, h.message());
  return Status::OK();
}

Status UnmountAll(std::vector<sys::MountGuard>& mounts) {
  Status first;
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    Status s = it->Unmount();
    if (first.ok() && !s.ok()) first = s;
  }
  mounts.clear();
  return first;
}

Status ModeFailure(std::string why) { return FailedPreconditionError("mode failure - " + why); }

bool IsModeFailure(const Status& s) { return s.message().rfind("mode failure - ", 0) == 0; }

const char* HookPhaseName(HookPhase phase) {
  switch (phase) {
    case HookPhase::kPreStop:
      return "pre-stop";
    case HookPhase::kPreRestart:
      return "pre-restart";
    case HookPhase::kPostRestart:
      return "post-restart";
  }
  return "unknown";
}

Result<std::unique_ptr<ModeSession>> CreateModeSession(const std::string& mode,
                                                       const ModeContext& ctx) {
  if (mode == "stop") return MakeStopMode(ctx);
  if (mode == "suspend") return MakeSuspendMode(ctx);
  if (mode == "snapshot") return MakeSnapshotMode(ctx);
  return InvalidArgumentError(fmt::format("unknown backup mode '{}'", mode));
}

ModeFactory& RealModes() {
  class Real : public ModeFactory {
   public:
    Result<std::unique_ptr<ModeSession>> Create(const std::string& mode,
                                                const ModeContext& ctx) override {
      return CreateModeSession(mode, ctx);
    }
  };
  static Real modes;
  return modes;
}

}  // namespace ctdump::modes
