// Mode `suspend`: copy the running container's tree, freeze it, copy what
// changed, thaw; the provider reads the copy. With a provider that takes a
// first pass over the running tree itself (ModeContext::live_pass: the
// datastore), there is no copy: LiveView() mounts the tree, the provider
// backs it up, Enter() freezes, the provider backs up what changed, and
// Resume() thaws (docs/design/suspend-live-pass.md). The copy is ctdump's own
// (modes/tree_copy.h): paths of any length, holes kept as holes and written
// zeros as data, hardlinks, xattrs, ACLs, numeric owners, the job's
// exclusions applied while copying, every file that could not be copied
// named in the log.
//
// The running container can change its tree while the copier walks it (swap
// a directory for a symlink to a host path between a stat and an open), so
// the copier never runs as host root here: it runs as the container's root
// in its user namespace (like the provider's worker), reading read-only bind
// mounts of the rootfs and included mount points (mounted without following
// any symlink) and writing into a fresh directory owned by the container's
// root. One copier process makes both passes, so the second knows what the
// first saw: it sends "S <summary>" on stdout after each pass and, after
// the first, waits for "2" on stdin, which ctdump writes once the container
// is frozen. Its messages come as worker lines (userns/worker_relay.h) on
// stdout too, so they stay in order with the passes.
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "modes/freeze.h"
#include "modes/mode.h"
#include "modes/tree_copy.h"
#include "sys/file.h"
#include "sys/mount.h"
#include "sys/signals.h"
#include "sys/subprocess.h"
#include "userns/userns.h"
#include "userns/worker_relay.h"

namespace ctdump::modes {
namespace {

// The copier process: both passes, reporting on fd 1, waiting on fd 0.
int RunCopier(const std::string& from, const std::string& copy, const TreeCopyOptions& options) {
  // Deleting a deep tree from the copy holds one fd per level.
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  userns::LineObserver out(1);
  TreeCopier copier(from, copy, options, &out);
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) {
      char go = 0;
      if (::read(0, &go, 1) != 1 || go != '2') return 1;  // ctdump gave up
    }
    auto stats = copier.Sync();
    if (!stats.ok()) {
      out.SendError(stats.status());
      return 1;
    }
    if (!sys::WriteAll(1, "S " + stats->Summary() + "\n", "copier messages").ok()) return 1;
  }
  return 0;
}

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

  bool HasLiveView() const override { return ctx_.live_pass; }

  Result<ConsistentTree> LiveView() override {
    if (!ctx_.live_pass) return ModeSession::LiveView();
    if (mounts_.empty()) RETURN_IF_ERROR(MountSources());
    return LiveTree();
  }

  Result<ConsistentTree> Enter() override {
    if (ctx_.live_pass) {
      if (mounts_.empty()) RETURN_IF_ERROR(MountSources());
      RETURN_IF_ERROR(FreezeWithHook());
      return LiveTree();
    }
    RETURN_IF_ERROR(MountSources());
    std::string copy = ctx_.tmpdir + "/root";
    if (::mkdir(copy.c_str(), 0700) != 0)
      return ErrnoError(errno, fmt::format("Failed to create \"{}\"", copy));
    if (::chown(copy.c_str(), ctx_.map->root_uid(), ctx_.map->root_gid()) != 0)
      return ErrnoError(errno, fmt::format("Failed to chown \"{}\"", copy));
    const std::string& from = ctx_.directory;
    TreeCopyOptions options;
    for (const MountPoint* mp : ctx_.included_mounts) options.sources.push_back("." + mp->path);
    options.exclude_patterns = ctx_.exclude_patterns;
    options.bwlimit = ctx_.bwlimit_kib * 1024;
    ctx_.log->Log(LogLevel::kInfo, fmt::format("starting first sync {}/ to {}", from, copy));
    sys::SpawnOptions so;
    so.argv = {"ctdump suspend copier"};
    so.pipe_stdin = so.pipe_stdout = so.pipe_stderr = true;
    so.new_session = true;
    so.cwd = "/";
    ASSIGN_OR_RETURN(auto proc, userns::ForkAsContainerRoot(
                                    *ctx_.map, so, [&] { return RunCopier(from, copy, options); }));
    int passes = 0;
    std::string pending;
    Status reported;  // the copier's own error
    Status synced = userns::RelayWorker(
        proc, "suspend copier", ctx_.log, [&](const char* d, size_t n) -> Status {
          pending.append(d, n);
          for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
            std::string line = userns::DecodeLine(std::string_view(pending).substr(0, nl));
            pending.erase(0, nl + 1);
            if (line.starts_with("P ")) {
              // Progress that does not parse is dropped, never a failure.
              if (auto p = userns::ParseProgress(std::string_view(line).substr(2)))
                ctx_.log->OnProgress(*p);
            } else if (line.starts_with("S ")) {
              RETURN_IF_ERROR(PassDone(++passes, line.substr(2), from, copy, proc));
            } else if (line.starts_with("W ")) {
              ctx_.log->Log(LogLevel::kWarn, line.substr(2));
            } else if (line.starts_with("E ")) {  // "E <code> <message>"
              int code = std::atoi(line.c_str() + 2);
              bool known = code > 0 && code <= static_cast<int>(Code::kIOError);
              size_t sp = line.find(' ', 2);
              std::string msg = sp == std::string::npos ? line : line.substr(sp + 1);
              if (reported.ok())
                reported = Status(known ? static_cast<Code>(code) : Code::kInternal, msg);
            } else {
              ctx_.log->Log(LogLevel::kInfo, line.starts_with("I ") ? line.substr(2) : line);
            }
          }
          return Status::OK();
        });
    if (!synced.ok() && !reported.ok()) synced = reported;
    if (synced.ok() && passes != 2) synced = InternalError("the suspend copier stopped early");
    if (!synced.ok()) synced = synced.WithContext(passes == 0 ? "first sync" : "final sync");
    RETURN_IF_ERROR(Resume());
    RETURN_IF_ERROR(synced);
    return ConsistentTree{copy, {"."}, true};
  }

  Status Resume() override { return ThawWithHooks(ctx_, "suspend", frozen_); }

  // The copy lives in the job's tmpdir, which the job removes.
  Status Leave() override {
    Status first = Resume();
    Status u = UnmountAll(mounts_);
    if (first.ok()) first = u;
    return first;
  }

 private:
  Status MountSources() {
    ASSIGN_OR_RETURN(auto root,
                     sys::MountGuard::BindReadOnly(ctx_.config->rootfs_path, ctx_.directory));
    mounts_.push_back(std::move(root));
    for (const MountPoint* mp : ctx_.included_mounts) {
      auto m = sys::MountGuard::BindReadOnlyBeneath(mp->source, ctx_.directory, mp->path);
      if (!m.ok()) return m.status().WithContext(fmt::format("mount point {}", mp->key));
      mounts_.push_back(std::move(*m));
    }
    return Status::OK();
  }

  // The mounted tree as the provider reads it (not a copy: inodes and
  // ctimes are the container's).
  ConsistentTree LiveTree() const {
    std::vector<std::string> sources = {"./"};
    for (const MountPoint* mp : ctx_.included_mounts) sources.push_back("." + mp->path);
    return ConsistentTree{ctx_.directory, sources, false};
  }

  // Between the passes: hook pre-stop, journal, freeze.
  Status FreezeWithHook() {
    RETURN_IF_ERROR(sys::CheckInterrupted());
    RETURN_IF_ERROR(ctx_.hooks->Run(HookPhase::kPreStop, "suspend"));
    bool ours = ctx_.container->GetState() != container::State::kFrozen;
    RETURN_IF_ERROR(ctx_.journal->SetFrozen(ours));
    return frozen_.Freeze();
  }

  // After the first pass: hook, freeze, let the copier make the second.
  Status PassDone(int pass, const std::string& summary, const std::string& from,
                  const std::string& copy, sys::Subprocess& proc) {
    ctx_.log->Log(LogLevel::kInfo,
                  fmt::format("{} sync finished - {}", pass == 1 ? "first" : "final", summary));
    if (pass != 1) return Status::OK();
    RETURN_IF_ERROR(FreezeWithHook());
    ctx_.log->Log(LogLevel::kInfo, fmt::format("starting final sync {}/ to {}", from, copy));
    return sys::WriteAll(proc.stdin_fd().get(), "2", "the suspend copier");
  }

  ModeContext ctx_;
  FrozenContainer frozen_;
  std::vector<sys::MountGuard> mounts_;
};

}  // namespace

std::unique_ptr<ModeSession> MakeSuspendMode(const ModeContext& ctx) {
  return std::make_unique<SuspendMode>(ctx);
}

}  // namespace ctdump::modes
