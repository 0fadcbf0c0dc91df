// Mode `suspend`: copy the running container's tree, freeze it, copy what
// changed, thaw; the provider reads the copy. The copy is made with rsync as
// vzdump does (hardlinks, xattrs, ACLs, sparse files kept; numeric ids; the
// job's exclusions applied while copying).
//
// The running container can change its tree while rsync walks it (swap a
// directory for a symlink to a host path between rsync's lstat and open), so
// rsync never runs as host root here: it runs as the container's root in its
// user namespace (like the provider's worker), reading read-only bind mounts
// of the rootfs and included mount points (mounted without following any
// symlink) and writing into a fresh directory owned by the container's root.
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "backup/freeze.h"
#include "backup/mode.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "sys/mount.h"
#include "sys/subprocess.h"
#include "userns/userns.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

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
    RETURN_IF_ERROR(MountSources());
    std::string copy = ctx_.tmpdir + "/root";
    if (::mkdir(copy.c_str(), 0700) != 0)
      return ErrnoError(errno, fmt::format("Failed to create \"{}\"", copy));
    if (::chown(copy.c_str(), ctx_.map->root_uid(), ctx_.map->root_gid()) != 0)
      return ErrnoError(errno, fmt::format("Failed to chown \"{}\"", copy));
    const std::string& from = ctx_.directory;
    ctx_.log->Log(LogLevel::kInfo, fmt::format("starting first sync {}/ to {}", from, copy));
    RETURN_IF_ERROR(Rsync(from, copy, /*first=*/true));
    RETURN_IF_ERROR(sys::CheckInterrupted());
    RETURN_IF_ERROR(ctx_.hooks->RunGuestPhase("pre-stop", "suspend", ctx_.vmid, *ctx_.hook_env, ctx_.log));
    bool ours = ctx_.container->GetState() != container::State::kFrozen;
    RETURN_IF_ERROR(ctx_.journal->Update([ours](JournalState& j) { j.frozen = ours; }));
    RETURN_IF_ERROR(frozen_.Freeze());
    ctx_.log->Log(LogLevel::kInfo, fmt::format("starting final sync {}/ to {}", from, copy));
    Status synced = Rsync(from, copy, /*first=*/false);
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
    ASSIGN_OR_RETURN(auto root, sys::MountGuard::BindReadOnly(ctx_.config->rootfs_path, ctx_.directory));
    mounts_.push_back(std::move(root));
    for (const MountPoint* mp : ctx_.included_mounts) {
      auto m = sys::MountGuard::BindReadOnlyBeneath(mp->source, ctx_.directory, mp->path);
      if (!m.ok()) return m.status().WithContext(fmt::format("mount point {}", mp->key));
      mounts_.push_back(std::move(*m));
    }
    return Status::OK();
  }

  Status Rsync(const std::string& from, const std::string& copy, bool first) {
    sys::SpawnOptions o;
    o.argv = {kRsync, "--stats", "-h", "-X", "-A", "--numeric-ids", "-aH", "--delete",
              "--no-whole-file", "--sparse", "--one-file-system", "--relative"};
    if (ctx_.bwlimit_kib) o.argv.push_back(fmt::format("--bwlimit={}", ctx_.bwlimit_kib));
    for (const auto& p : ctx_.exclude_patterns) o.argv.push_back("--exclude=" + p);
    o.argv.push_back(from + "/./");
    for (const MountPoint* mp : ctx_.included_mounts) o.argv.push_back(from + "/." + mp->path);
    o.argv.push_back(copy);
    o.pipe_stdout = o.pipe_stderr = true;
    o.new_session = true;
    o.cwd = "/";
    ASSIGN_OR_RETURN(auto proc, userns::SpawnAsContainerRoot(*ctx_.map, o));
    std::string output, stats;
    ASSIGN_OR_RETURN(int st, Drain(proc, &output));
    for (size_t pos = 0; pos < output.size();) {
      size_t nl = output.find('\n', pos);
      std::string line = output.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (line.rfind("Total transferred file size:", 0) == 0) stats = line;
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    // 24: files vanished while copying a running container (expected in the
    // first pass, as for vzdump). 23: some files could not be read by the
    // container's root (host-owned files; the provider's worker could not
    // read them either).
    if (code == 23)
      ctx_.log->Log(LogLevel::kWarn, "some files could not be copied (not readable by the container's root): " +
                                         FirstError(output));
    if (code != 0 && code != 23 && !(first && code == 24)) {
      std::string last = output;
      while (!last.empty() && last.back() == '\n') last.pop_back();
      last = last.substr(last.rfind('\n') + 1);
      return IOError(fmt::format("rsync {} failed ({}): {}", first ? "first sync" : "final sync",
                                 sys::DescribeWaitStatus(st), last));
    }
    ctx_.log->Log(LogLevel::kInfo, fmt::format("{} sync finished - {}", first ? "first" : "final",
                                               stats.empty() ? "done" : stats));
    return Status::OK();
  }

  static std::string FirstError(const std::string& output) {
    size_t p = output.find("rsync: ");
    if (p == std::string::npos) return "see rsync's output";
    return output.substr(p, output.find('\n', p) - p);
  }

  // Reads stdout and stderr until exit; SIGINT/SIGTERM kill rsync.
  Result<int> Drain(sys::Subprocess& proc, std::string* output) {
    const int signals_before = sys::InterruptCount();
    for (int fd : {proc.stdout_fd().get(), proc.stderr_fd().get()})
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (;;) {
      pollfd fds[3] = {{proc.stdout_fd().get(), POLLIN, 0}, {proc.stderr_fd().get(), POLLIN, 0},
                       {sys::InterruptFd(), POLLIN, 0}};
      ::poll(fds, 3, 1000);
      if (sys::InterruptCount() != signals_before) {
        proc.KillAndReap();
        return CancelledError("interrupted by signal");
      }
      bool open = false;
      for (sys::UniqueFd* fd : {&proc.stdout_fd(), &proc.stderr_fd()}) {
        char buf[8192];
        while (fd->valid()) {
          ssize_t n = ::read(fd->get(), buf, sizeof(buf));
          if (n > 0) {
            output->append(buf, static_cast<size_t>(n));
            continue;
          }
          if (n == 0) fd->Reset();
          break;
        }
        open = open || fd->valid();
      }
      if (!open) return proc.Wait();
    }
  }

  ModeContext ctx_;
  FrozenContainer frozen_;
  std::vector<sys::MountGuard> mounts_;
};

}  // namespace

std::unique_ptr<ModeSession> MakeSuspendMode(const ModeContext& ctx) {
  return std::make_unique<SuspendMode>(ctx);
}

}  // namespace ctdump::backup
