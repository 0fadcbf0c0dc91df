// Mode `suspend`: copy the running container's tree, freeze it, copy what
// changed, thaw; the provider reads the copy. The copy is made with rsync as
// vzdump does (hardlinks, xattrs, ACLs, sparse files kept; numeric ids; the
// job's exclusions applied while copying), from /proc/<init>/root so it sees
// the container's own mounts; mount points not included are excluded.
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "backup/freeze.h"
#include "backup/mode.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::backup {
namespace {

constexpr const char* kRsync = "/usr/bin/rsync";

class SuspendMode : public ModeSession {
 public:
  explicit SuspendMode(const ModeContext& ctx) : ctx_(ctx), frozen_(ctx.container, ctx.log) {}
  ~SuspendMode() override {
    Status s = Leave();
    if (!s.ok()) ctx_.log->Log(LogLevel::kErr, s.message());
  }

  const std::string& name() const override {
    static const std::string kName = "suspend";
    return kName;
  }

  Status Prepare() override {
    if (!sys::PathExists(kRsync))
      return FailedPreconditionError("suspend mode needs rsync (apt-get install rsync)");
    return Status::OK();
  }

  Result<ConsistentTree> Enter() override {
    pid_t pid = ctx_.container->InitPid();
    if (pid <= 0) return FailedPreconditionError(fmt::format("container '{}' is not running", ctx_.vmid));
    std::string from = fmt::format("/proc/{}/root", pid);
    std::string copy = ctx_.tmpdir + "/root";
    // The provider's worker (the container's root) must reach the copy.
    if (::chmod(ctx_.tmpdir.c_str(), 0755) != 0)
      return ErrnoError(errno, fmt::format("Failed to chmod \"{}\"", ctx_.tmpdir));
    RETURN_IF_ERROR(sys::MakeDirs(copy, 0755));
    ctx_.log->Log(LogLevel::kInfo, fmt::format("starting first sync {}/ to {}", from, copy));
    RETURN_IF_ERROR(Rsync(from, copy, /*first=*/true));
    RETURN_IF_ERROR(sys::CheckInterrupted());
    RETURN_IF_ERROR(ctx_.hooks->RunGuestPhase("pre-stop", "suspend", ctx_.vmid, *ctx_.hook_env, ctx_.log));
    RETURN_IF_ERROR(ctx_.journal->Update([](JournalState& j) { j.frozen = true; }));
    RETURN_IF_ERROR(frozen_.Freeze());
    ctx_.log->Log(LogLevel::kInfo, fmt::format("starting final sync {}/ to {}", from, copy));
    Status synced = Rsync(from, copy, /*first=*/false);
    RETURN_IF_ERROR(Resume());
    RETURN_IF_ERROR(synced);
    return ConsistentTree{copy, {"."}};
  }

  Status Resume() override {
    if (!frozen_.frozen()) return Status::OK();
    Status h = ctx_.hooks->RunGuestPhase("pre-restart", "suspend", ctx_.vmid, *ctx_.hook_env, ctx_.log);
    if (!h.ok()) ctx_.log->Log(LogLevel::kWarn, h.message());
    RETURN_IF_ERROR(frozen_.Thaw());
    ctx_.journal->Update([](JournalState& j) { j.frozen = false; }).IgnoreError();
    h = ctx_.hooks->RunGuestPhase("post-restart", "suspend", ctx_.vmid, *ctx_.hook_env, ctx_.log);
    if (!h.ok()) ctx_.log->Log(LogLevel::kWarn, h.message());
    return Status::OK();
  }

  // The copy lives in the job's tmpdir, which the job removes.
  Status Leave() override { return Resume(); }

 private:
  Status Rsync(const std::string& from, const std::string& copy, bool first) {
    sys::SpawnOptions o;
    o.argv = {kRsync, "--stats", "-h", "-X", "-A", "--numeric-ids", "-aH", "--delete",
              "--no-whole-file", "--sparse", "--one-file-system", "--relative"};
    if (ctx_.bwlimit_kib) o.argv.push_back(fmt::format("--bwlimit={}", ctx_.bwlimit_kib));
    for (const auto& p : ctx_.exclude_patterns) o.argv.push_back("--exclude=" + p);
    for (const auto& mp : ctx_.config->mounts)
      if (!mp.backup && !mp.path.empty()) o.argv.push_back("--exclude=" + mp.path);
    o.argv.push_back(from + "/./");
    for (const MountPoint* mp : ctx_.included_mounts) o.argv.push_back(from + "/." + mp->path);
    o.argv.push_back(copy);
    std::string stats;
    ASSIGN_OR_RETURN(auto r, sys::RunCommand(o, [&](const std::string& line) {
      if (line.rfind("Total transferred file size:", 0) == 0) stats = line;
    }));
    int code = WIFEXITED(r.wait_status) ? WEXITSTATUS(r.wait_status) : -1;
    // 24: files vanished while copying a running container (expected in the
    // first pass, as for vzdump).
    if (code != 0 && !(first && code == 24)) {
      std::string last = r.output;
      while (!last.empty() && last.back() == '\n') last.pop_back();
      last = last.substr(last.rfind('\n') + 1);
      return IOError(fmt::format("rsync {} failed ({}): {}", first ? "first sync" : "final sync",
                                 sys::DescribeWaitStatus(r.wait_status), last));
    }
    ctx_.log->Log(LogLevel::kInfo, fmt::format("{} sync finished - {}", first ? "first" : "final",
                                               stats.empty() ? "done" : stats));
    return Status::OK();
  }

  ModeContext ctx_;
  FrozenContainer frozen_;
};

}  // namespace

std::unique_ptr<ModeSession> MakeSuspendMode(const ModeContext& ctx) {
  return std::make_unique<SuspendMode>(ctx);
}

}  // namespace ctdump::backup
