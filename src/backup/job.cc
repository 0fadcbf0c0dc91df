#include "backup/job.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "backup/guest_progress.h"
#include "backup/guest_state.h"
#include "backup/hook_script.h"
#include "backup/journal.h"
#include "backup/mode_adapters.h"
#include "backup/retention.h"
#include "backup/task_log.h"
#include "container/container.h"
#include "ctdump/container_config.h"
#include "ctdump/provider.h"
#include "registry/registry.h"
#include "sys/file.h"
#include "sys/journal.h"
#include "sys/lock_file.h"
#include "sys/mount.h"
#include "sys/signals.h"

namespace ctdump::backup {

using modes::ConsistentTree;
using modes::ModeSession;

bool JobResult::ok() const {
  if (!status.ok() || !selection_warnings.empty()) return false;
  for (const auto& g : guests)
    if (!g.status.ok()) return false;
  return true;
}

namespace {

// ctdump.fw (PVE's <vmid>.fw): a regular file of at most this size.
constexpr size_t kMaxFirewallConfigSize = 1 << 20;

constexpr const char* kPrivilegedWarning =
    "external backup of privileged container can only be restored as unprivileged which might "
    "not work in all cases";

// The dir storage's log next to an archive: its name without ".tar[.ext]" /
// ".tgz" plus ".log" (as DirProvider files it, and vzdump's LOGFILE).
std::string VzdumpLogName(const std::string& archive) {
  if (archive.ends_with(".tgz")) return archive.substr(0, archive.size() - 4) + ".log";
  return archive.substr(0, archive.rfind(".tar")) + ".log";
}

std::string Duration(int64_t secs) {
  return fmt::format("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60);
}

// Everything one guest's backup needs, shared by its steps.
struct GuestRun {
  std::string vmid;
  TaskLog* log = nullptr;
  std::unique_ptr<container::Control> ct;
  ContainerConfig config;
  IdMap map;
  bool vmtype_known = false;
  std::string archive;
  HookEnv hook_env;
  std::string mode_name;  // effective mode
  // Declared before `mode`, which uses them until it is destroyed.
  std::unique_ptr<GuestJournal> journal;
  std::unique_ptr<GuestModeJournal> mode_journal;
  std::unique_ptr<GuestModeHooks> mode_hooks;
  std::unique_ptr<ModeSession> mode;
  sys::LockFile lock;
  std::string tmpdir;
  std::string snapdir;
};

class Job {
 public:
  Job(const ResolvedJobOptions& o, const Paths& p, Observer* obs, const JobSeams& seams)
      : opts_(o), paths_(p), obs_(obs), hooks_(o.script, obs), seams_(seams) {
    if (!seams_.containers) seams_.containers = &container::LxcOpener();
    if (!seams_.modes) seams_.modes = &modes::RealModes();
  }

  JobResult Run();

 private:
  Status RunJobBody(JobResult* result);
  GuestResult RunGuest(const std::string& vmid, bool* abort_job);
  Status BackupGuest(GuestRun& g, int64_t backup_time, GuestResult* res);
  Status LoadGuest(GuestRun& g);
  Status LogMountPoints(GuestRun& g, std::vector<const MountPoint*>* included);
  Status RunProvider(GuestRun& g, const ConsistentTree& tree, bool live_pass);
  void CleanupLocal(GuestRun& g);
  void Info(Observer* o, const std::string& m) { o->Log(LogLevel::kInfo, m); }

  const ResolvedJobOptions& opts_;
  const Paths& paths_;
  Observer* obs_;
  HookScript hooks_;
  JobSeams seams_;
  HookEnv job_env_;  // the job phases' environment (STOREID, DUMPDIR)
  std::unique_ptr<Provider> provider_;
  Status CheckProtectedLimit(GuestRun& g);
  Status OpenJobStorage();
  std::optional<uint64_t> PreviousLogicalBytes(const std::string& vmid) const;
  Status CheckBackupLimit(GuestRun& g);
  Status AfterArchive(GuestRun& g, int64_t backup_time);

  int64_t start_time_ = 0;
  bool ionice_applied_ = false;
  std::optional<PruneOptions> storage_prune_;  // the storage's prune-backups
  // vzdump's order: the command line's, the storage's, ctdump.conf's, keep-all.
  PruneOptions Retention() const { return EffectiveRetention(opts_, storage_prune_); }
  int64_t max_protected_ = -1;  // the storage's max-protected-backups (-1: unlimited, as for root)
};

JobResult Job::Run() {
  JobResult result;
  start_time_ = ::time(nullptr);
  // vzdump's ionice (default 7): best-effort class at that level, 8 = the idle
  // class; inherited by the providers and their tar/uploaders.
  constexpr int kIoprioWhoProcess = 1, kIoprioClassBe = 2, kIoprioClassIdle = 3;
  int ioprio = opts_.ionice > 7 ? kIoprioClassIdle << 13
                                : (kIoprioClassBe << 13) | static_cast<int>(opts_.ionice);
  ionice_applied_ = ::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, ioprio) == 0;
  obs_->OnJobStart(JobInfo{opts_.vmids, opts_.storage, opts_.dumpdir, opts_.mode});
  Info(obs_, "starting new backup job: " + opts_.command_line);
  for (const auto& w : opts_.warnings) obs_->Log(LogLevel::kWarn, w);
  result.selection_warnings = opts_.selection_warnings;
  for (const auto& w : opts_.selection_warnings) obs_->Log(LogLevel::kWarn, w);
  Status s = sys::MakeDirs(paths_.run_dir + "/lock", 0755);
  if (s.ok()) s = sys::MakeDirs(paths_.log_dir, 0755);
  if (!s.ok()) {
    result.status = s;
    obs_->Log(LogLevel::kErr, "Backup job failed - " + s.message());
    return result;
  }
  // Global job lock, waiting up to lockwait minutes like vzdump.
  std::string lock_path = paths_.run_dir + "/ctdump.lock";
  auto warn = [this](const std::string& m) { obs_->Log(LogLevel::kWarn, m); };
  auto lock = sys::LockFile::Acquire(lock_path, std::chrono::milliseconds(0), warn);
  if (!lock.ok() && lock.status().code() == Code::kUnavailable) {
    Info(obs_, "trying to get global lock - waiting...");
    lock = sys::LockFile::Acquire(lock_path, std::chrono::minutes(opts_.lockwait_minutes), warn);
    if (lock.ok()) Info(obs_, "got global lock");
  }
  if (!lock.ok()) {
    result.status = lock.status();
    obs_->Log(LogLevel::kErr, "Backup job failed - " + lock.status().message());
    return result;
  }

  s = RunJobBody(&result);
  if (!s.ok()) {
    if (provider_) {
      Status c = provider_->JobCleanup();
      if (!c.ok())
        s = Status(s.code(), fmt::format("{}; job cleanup for external provider failed - {}",
                                         s.message(), c.message()));
    }
    Status h = hooks_.RunJobPhase("job-abort", job_env_);
    if (!h.ok()) obs_->Log(LogLevel::kWarn, h.message());
    result.status = s;
    obs_->Log(LogLevel::kErr, "Backup job failed - " + s.message());
  }
  if (provider_) {
    Status sh = provider_->Shutdown();
    if (!sh.ok()) obs_->Log(LogLevel::kWarn, sh.message());
    provider_.reset();
  }
  bool guests_ok = std::all_of(result.guests.begin(), result.guests.end(),
                               [](const GuestResult& g) { return g.status.ok(); });
  if (result.ok())
    Info(obs_, "Backup job finished successfully");
  else if (result.status.ok() && !guests_ok)
    obs_->Log(LogLevel::kErr, "Backup job finished with errors");
  else if (result.status.ok())
    obs_->Log(LogLevel::kErr,
              "Backup job finished with errors: the container selection has "
              "warnings (see above)");
  return result;
}

Status Job::RunJobBody(JobResult* result) {
  // vzdump: DUMPDIR is known at job-init only when given (--dumpdir); a dir
  // storage's comes with the storage.
  job_env_.storeid = opts_.storage;
  job_env_.dumpdir = opts_.dumpdir;
  // A job killed with SIGKILL left its containers stopped, frozen or with
  // snapshots: repair that first (under the global lock).
  auto repaired = RepairAbandoned(sys::MakeJournalDirs(paths_.state_dir, paths_.run_dir), obs_);
  if (!repaired.ok()) obs_->Log(LogLevel::kWarn, repaired.status().message());
  RETURN_IF_ERROR(hooks_.RunJobPhase("job-init", job_env_));
  // The provider's main instance lives in the job's private mount namespace
  // too: backup_container_prepare must see the mounted tree, and whatever it
  // mounts must not leak to the host (PVE's vzdump worker does the same).
  if (seams_.enter_mount_namespace) {
    RETURN_IF_ERROR(seams_.enter_mount_namespace());
  } else {
    container::RememberHostMountNamespace();
    RETURN_IF_ERROR(sys::EnterPrivateMountNamespace());
  }
  RETURN_IF_ERROR(sys::CheckInterrupted());
  RETURN_IF_ERROR(OpenJobStorage());
  RETURN_IF_ERROR(provider_->JobInit(start_time_));
  RETURN_IF_ERROR(hooks_.RunJobPhase("job-start", job_env_));
  for (const auto& vmid : opts_.vmids) {
    RETURN_IF_ERROR(sys::CheckInterrupted());
    bool abort_job = false;
    obs_->OnGuestStart(vmid);
    result->guests.push_back(RunGuest(vmid, &abort_job));
    const GuestResult& g = result->guests.back();
    obs_->OnGuestEnd(GuestSummary{vmid, g.status.ok(), g.status.ok() ? "" : g.status.message(),
                                  g.archive, g.size, g.seconds, g.warnings});
    if (abort_job) return result->guests.back().status;
  }
  RETURN_IF_ERROR(provider_->JobCleanup());
  return hooks_.RunJobPhase("job-end", job_env_);
}

// The last backup's logical size to the same storage, from the container's
// record: the total of this backup's progress (none when unknown).
std::optional<uint64_t> Job::PreviousLogicalBytes(const std::string& vmid) const {
  if (paths_.state_dir.empty()) return std::nullopt;
  auto r = ReadGuestRecord(paths_.state_dir, vmid);
  if (!r.ok() || r->storage != opts_.storage || r->dumpdir != opts_.dumpdir) return std::nullopt;
  return r->logical_bytes;
}

// --dumpdir or --storage, with the job's options for the storages that use them.
Status Job::OpenJobStorage() {
  registry::BackupJobSettings settings;
  settings.compress = opts_.compress;
  settings.zstd_threads = opts_.zstd_threads;
  settings.force_full = opts_.force_full;
  Result<registry::BackupStorage> storage =
      seams_.open_storage ? seams_.open_storage(settings, obs_)
      : !opts_.dumpdir.empty()
          ? registry::OpenDumpDir(opts_.dumpdir, settings, obs_)
          : registry::OpenBackupStorage(paths_.config_dir, opts_.storage, settings, obs_);
  if (!storage.ok()) return storage.status();
  provider_ = std::move(storage->provider);
  storage_prune_ = storage->settings.prune;
  max_protected_ = storage->settings.max_protected;
  if (!storage->dump_dir.empty()) job_env_.dumpdir = storage->dump_dir;
  return Status::OK();
}

GuestResult Job::RunGuest(const std::string& vmid, bool* abort_job) {
  GuestResult res;
  res.vmid = vmid;
  int64_t started = ::time(nullptr);
  TaskLog log(obs_);
  GuestRun g;
  g.vmid = vmid;
  g.log = &log;
  g.hook_env.storeid = job_env_.storeid;
  g.hook_env.dumpdir = job_env_.dumpdir;
  std::string log_path = fmt::format("{}/lxc-{}.log", paths_.log_dir, vmid);
  Status s = vmid.find('/') == std::string::npos
                 ? log.Open(log_path)
                 : InvalidArgumentError(fmt::format("invalid container name '{}'", vmid));
  std::optional<uint64_t> previous = PreviousLogicalBytes(vmid);
  GuestProgress progress(&log, previous);
  provider_->SetObserver(&progress);
  if (s.ok()) {
    Info(&log, fmt::format("Starting Backup of VM {} (lxc)", vmid));
    Info(&log, fmt::format("Backup started at {}", FormatTime(started)));
    s = BackupGuest(g, started, &res);
  }
  if (!s.ok()) {
    CleanupLocal(g);
    Status c = provider_->BackupCleanup(vmid, g.vmtype_known, false, s.message()).status();
    if (!c.ok())
      log.Log(LogLevel::kWarn, "backup cleanup for external provider failed - " + c.message());
    Status h = hooks_.RunGuestPhase("backup-abort", g.mode_name.empty() ? opts_.mode : g.mode_name,
                                    vmid, g.hook_env, &log);
    if (!h.ok()) log.Log(LogLevel::kWarn, h.message());
    log.Log(LogLevel::kErr, fmt::format("Backup of VM {} failed - {}", vmid, s.message()));
    if (s.code() == Code::kCancelled) *abort_job = true;
  } else {
    CleanupLocal(g);
    Info(&log,
         fmt::format("Finished Backup of VM {} ({})", vmid, Duration(::time(nullptr) - started)));
  }
  res.status = s;
  res.logical_bytes = s.ok() && progress.logical_bytes() ? progress.logical_bytes() : previous;
  res.archive = g.archive;
  res.seconds = ::time(nullptr) - started;
  Info(&log, fmt::format("Backup finished at {}", FormatTime(::time(nullptr))));
  res.warnings = log.warnings();
  bool have_log = !log.path().empty();
  provider_->SetObserver(obs_);
  log.Close();
  if (have_log) {
    Status lf = provider_->BackupHandleLogFile(vmid, log_path);
    if (!lf.ok()) {
      // As in vzdump this escapes the guest task and aborts the job.
      *abort_job = true;
      res.status = lf.WithContext("handling the log file failed");
      return res;
    }
  }
  Status h = hooks_.RunGuestPhase("log-end", g.mode_name.empty() ? opts_.mode : g.mode_name, vmid,
                                  g.hook_env, obs_);
  if (!h.ok()) obs_->Log(LogLevel::kWarn, h.message());
  if (sys::InterruptSignal() != 0 && res.status.ok()) {
    // A signal after this guest finished still ends the job here.
    *abort_job = true;
    res.status = CancelledError("interrupted by signal");
  }
  return res;
}

Status Job::LoadGuest(GuestRun& g) {
  // Our own reading of the configuration comes first: its errors name the
  // file and line, where liblxc would only say that it failed to load.
  std::string dir = fmt::format("{}/{}", paths_.lxcpath, g.vmid);
  if (!sys::PathExists(dir + "/config"))
    return NotFoundError(
        fmt::format("container '{}' does not exist in lxcpath \"{}\"", g.vmid, paths_.lxcpath));
  g.vmtype_known = true;
  std::string pct = dir + "/pct.conf";
  auto cfg =
      sys::PathExists(pct) ? ReadPctConfig(pct, g.vmid) : ReadLxcConfig(dir + "/config", g.vmid);
  if (!cfg.ok()) return cfg.status();
  g.config = std::move(*cfg);
  for (const auto& w : g.config.warnings) g.log->Log(LogLevel::kWarn, w);
  ASSIGN_OR_RETURN(g.map, g.config.GetIdMap());
  ASSIGN_OR_RETURN(g.ct, seams_.containers->Open(g.vmid, paths_.lxcpath));
  return Status::OK();
}

Status Job::LogMountPoints(GuestRun& g, std::vector<const MountPoint*>* included) {
  Info(g.log, "including mount point rootfs ('/') in backup");
  for (const auto& mp : g.config.mounts) {
    const char* type = mp.is_volume ? "volume" : mp.is_bind ? "bind" : "device";
    bool asked = std::find(opts_.include_mounts.begin(), opts_.include_mounts.end(), mp.path) !=
                 opts_.include_mounts.end();
    if (mp.backup || (asked && mp.is_bind)) {
      if (!mp.is_bind || mp.source.empty() || mp.source[0] != '/')
        return InvalidArgumentError(fmt::format(
            "mount point {} ('{}'): cannot back up volume '{}' on a plain LXC host (only bind "
            "mounts of host directories can be included)",
            mp.key, mp.path, mp.source));
      Info(g.log, fmt::format("including mount point {} ('{}') in backup", mp.key, mp.path));
      included->push_back(&mp);
    } else {
      // The kernel file systems LXC mounts for every container are no data.
      if (mp.path.rfind("/sys/", 0) == 0 || mp.path.rfind("/proc/", 0) == 0 ||
          mp.path.rfind("/dev/", 0) == 0)
        continue;
      const char* reason = mp.is_volume ? "disabled" : "not a volume";
      Info(g.log, fmt::format("excluding {} mount point {} ('{}') from backup ({})", type, mp.key,
                              mp.path, reason));
    }
  }
  // Parents before children, as PVE sorts them: /data is mounted before /data/sub.
  std::sort(included->begin(), included->end(),
            [](const MountPoint* a, const MountPoint* b) { return a->path < b->path; });
  return Status::OK();
}

Status Job::BackupGuest(GuestRun& g, int64_t backup_time, GuestResult* res) {
  RETURN_IF_ERROR(LoadGuest(g));
  bool running = g.ct->IsRunning();
  Info(g.log, fmt::format("status = {}", running ? "running" : "stopped"));
  auto warn = [&g](const std::string& m) { g.log->Log(LogLevel::kWarn, m); };
  auto lock = sys::LockFile::Acquire(fmt::format("{}/lock/lxc-{}.lock", paths_.run_dir, g.vmid),
                                     std::chrono::milliseconds(0), warn);
  if (!lock.ok()) {
    if (lock.status().code() == Code::kUnavailable)
      return FailedPreconditionError(fmt::format("CT {} is locked (backup)", g.vmid));
    return lock.status();
  }
  g.lock = std::move(*lock);
  g.hook_env.hostname = g.config.hostname.empty() ? "CT" + g.vmid : g.config.hostname;
  g.hook_env.vmtype = "lxc";
  if (!g.config.hostname.empty()) Info(g.log, "CT Name: " + g.config.hostname);
  std::vector<const MountPoint*> included;
  RETURN_IF_ERROR(LogMountPoints(g, &included));
  // vzdump: a container that is not running is backed up in stop mode
  // (nothing to stop); snapshot falls back to suspend when it cannot work.
  g.mode_name = running ? opts_.mode : "stop";
  g.journal = std::make_unique<GuestJournal>(sys::MakeJournalDirs(paths_.state_dir, paths_.run_dir),
                                             g.vmid, paths_.lxcpath);
  ASSIGN_OR_RETURN(
      g.tmpdir,
      sys::MakeTempDir(fmt::format("{}/ctdumptmp{}_{}.", opts_.tmpdir, ::getpid(), g.vmid), 0711));
  RETURN_IF_ERROR(g.journal->Update([&](JournalState& j) { j.tmpdir = g.tmpdir; }));
  g.snapdir = fmt::format("{}/mnt/{}", paths_.run_dir, g.vmid);
  g.mode_journal = std::make_unique<GuestModeJournal>(g.journal.get());
  g.mode_hooks = std::make_unique<GuestModeHooks>(&hooks_, g.vmid, &g.hook_env, g.log);
  modes::ModeContext mctx;
  mctx.container = g.ct.get();
  mctx.config = &g.config;
  mctx.log = g.log;
  mctx.hooks = g.mode_hooks.get();
  mctx.vmid = g.vmid;
  mctx.stopwait = std::chrono::seconds(opts_.stopwait_minutes * 60);
  mctx.included_mounts = included;
  mctx.exclude_patterns = opts_.exclude_patterns;
  mctx.bwlimit_kib = opts_.bwlimit_kib;
  mctx.directory = g.snapdir;
  mctx.tmpdir = g.tmpdir;
  mctx.journal = g.mode_journal.get();
  mctx.map = &g.map;
  mctx.live_pass = provider_->SupportsLivePass();
  ASSIGN_OR_RETURN(g.mode, seams_.modes->Create(g.mode_name, mctx));
  Status prepared = g.mode->Prepare();
  if (!prepared.ok() && modes::IsModeFailure(prepared) && g.mode_name == "snapshot") {
    Info(g.log, prepared.message());
    Info(g.log, "trying 'suspend' mode instead");
    g.mode_name = "suspend";
    ASSIGN_OR_RETURN(g.mode, seams_.modes->Create(g.mode_name, mctx));
    prepared = g.mode->Prepare();
  }
  RETURN_IF_ERROR(prepared);
  Info(g.log, fmt::format("backup mode: {}", g.mode_name));
  if (ionice_applied_) Info(g.log, fmt::format("ionice priority: {}", opts_.ionice));
  RETURN_IF_ERROR(CheckProtectedLimit(g));
  RETURN_IF_ERROR(CheckBackupLimit(g));
  if (opts_.bwlimit_kib) Info(g.log, fmt::format("bandwidth limit: {} KiB/s", opts_.bwlimit_kib));

  auto archive = provider_->BackupInit(g.vmid, backup_time);
  if (!archive.ok() && archive.status().code() == Code::kAlreadyExists) {
    // Backup names have a resolution of one second: a backup of this
    // container made within the same second (a script running two) has
    // the name. The next second's is free.
    Info(g.log, fmt::format("a backup of {} with this second's name exists: waiting for the next",
                            g.vmid));
    while (::time(nullptr) <= backup_time) ::usleep(50'000);
    backup_time = ::time(nullptr);
    archive = provider_->BackupInit(g.vmid, backup_time);
  }
  if (!archive.ok()) return archive.status().WithContext("backup init failed");
  if (!IsValidArchiveName(*archive))
    return InvalidArgumentError(
        fmt::format("backup init failed: illegal characters in archive name '{}'", *archive));
  g.archive = *archive;
  g.hook_env.target = g.archive;
  if (!g.hook_env.dumpdir.empty()) {
    // A dir storage (or --dumpdir): full paths, as vzdump gives them.
    g.hook_env.target = g.hook_env.dumpdir + "/" + g.archive;
    g.hook_env.logfile = g.hook_env.dumpdir + "/" + VzdumpLogName(g.archive);
  }
  RETURN_IF_ERROR(hooks_.RunGuestPhase("backup-start", g.mode_name, g.vmid, g.hook_env, g.log));
  RETURN_IF_ERROR(sys::CheckInterrupted());

  RETURN_IF_ERROR(sys::MakeDirs(g.snapdir, 0755));
  if (g.mode->HasLiveView()) {
    // Suspend mode without a copy: the provider's first pass reads the
    // running container, the second (after Enter froze it) what changed.
    ASSIGN_OR_RETURN(ConsistentTree live, g.mode->LiveView());
    RETURN_IF_ERROR(sys::CheckInterrupted());
    Info(g.log, fmt::format("creating {} archive '{}'", provider_->name(), g.archive));
    RETURN_IF_ERROR(RunProvider(g, live, true));
  }
  ASSIGN_OR_RETURN(ConsistentTree tree, g.mode->Enter());
  RETURN_IF_ERROR(sys::CheckInterrupted());

  if (!g.mode->HasLiveView())
    Info(g.log, fmt::format("creating {} archive '{}'", provider_->name(), g.archive));
  RETURN_IF_ERROR(RunProvider(g, tree, false));

  // The provider is done reading: give the container back before anything
  // else (mounts stay until after backup_cleanup, as in PVE). A container
  // that does not come back fails its backup (PVE only warns).
  RETURN_IF_ERROR(g.mode->Resume());
  RETURN_IF_ERROR(sys::CheckInterrupted());
  RETURN_IF_ERROR(AfterArchive(g, backup_time));

  auto size = provider_->BackupCleanup(g.vmid, true, true, "");
  if (!size.ok()) return size.status().WithContext("backup cleanup for external provider failed");
  res->size = *size;
  if (*size) Info(g.log, fmt::format("archive file size: {}", **size));
  return hooks_.RunGuestPhase("backup-end", g.mode_name, g.vmid, g.hook_env, g.log);
}

Status Job::RunProvider(GuestRun& g, const ConsistentTree& tree, bool live_pass) {
  // After a live first pass the second one continues the same backup.
  const bool second_pass = !live_pass && g.mode->HasLiveView();
  if (!second_pass) {
    Info(g.log, "starting external backup via " + provider_->name());
    // Only an external provider's backup of a privileged container is held to
    // an unprivileged restore; the built-in stores are trusted.
    if (provider_->external() && (g.map.empty() || g.map.root_uid() == 0 || g.map.root_gid() == 0))
      g.log->Log(LogLevel::kWarn, kPrivilegedWarning);
    ASSIGN_OR_RETURN(std::string mechanism, provider_->BackupGetMechanism(g.vmid));
    if (mechanism != "directory")
      return InvalidArgumentError(
          fmt::format("mechanism '{}' requested by backup provider is not supported for containers",
                      mechanism));
    Info(g.log, "using backup mechanism 'directory'");
  }

  BackupContainerRequest req;
  req.vmid = g.vmid;
  req.guest_config = g.config.raw;
  req.exclude_patterns = opts_.exclude_patterns;
  req.info.directory = tree.directory;
  req.info.sources = tree.sources;
  req.tree_is_copy = tree.copied;
  req.info.backup_user_id = g.map.root_uid();
  std::string fw = fmt::format("{}/{}/ctdump.fw", paths_.lxcpath, g.vmid);
  if (sys::PathExists(fw)) {
    ASSIGN_OR_RETURN(req.info.firewall_config, sys::ReadRegularFile(fw, kMaxFirewallConfigSize));
  }
  if (opts_.bwlimit_kib) req.info.bandwidth_limit = opts_.bwlimit_kib * 1024;

  ASSIGN_OR_RETURN(req.worker_state, provider_->BackupContainerPrepare(g.vmid, req.info));
  RETURN_IF_ERROR(sys::CheckInterrupted());
  if (live_pass) return provider_->BackupContainerLivePass(g.map, req);
  return provider_->BackupContainer(g.map, req);
}

Status Job::CheckProtectedLimit(GuestRun& g) {
  if (!opts_.is_protected || max_protected_ < 0) return Status::OK();
  ASSIGN_OR_RETURN(auto list, provider_->ListBackups(g.vmid));
  int n = static_cast<int>(std::count_if(list.begin(), list.end(), [&](const BackupEntry& b) {
    return b.vmid == g.vmid && b.is_protected;
  }));
  if (n >= max_protected_)
    return FailedPreconditionError(
        fmt::format("The number of protected backups per guest is limited to {} on storage '{}'",
                    max_protected_, opts_.storage));
  return Status::OK();
}

// vzdump with remove 0: nothing is pruned, so a retention that would keep N
// backups refuses the N+1st unprotected one instead.
Status Job::CheckBackupLimit(GuestRun& g) {
  PruneOptions prune = Retention();
  if (opts_.remove || opts_.is_protected || prune.KeepsEverything()) return Status::OK();
  uint64_t limit = 0;
  for (const auto& k : {prune.keep_last, prune.keep_hourly, prune.keep_daily, prune.keep_weekly,
                        prune.keep_monthly, prune.keep_yearly})
    limit += k.value_or(0);
  ASSIGN_OR_RETURN(auto list, provider_->ListBackups(g.vmid));
  uint64_t n =
      static_cast<uint64_t>(std::count_if(list.begin(), list.end(), [&](const BackupEntry& b) {
        return b.vmid == g.vmid && !b.is_protected;
      }));
  if (n >= limit)
    return FailedPreconditionError(fmt::format(
        "There is a max backup limit of {} enforced by the target storage or the vzdump "
        "parameters. Either increase the limit or delete old backups.",
        limit));
  return Status::OK();
}

// Notes, protection and retention: after the data is written, before
// backup_cleanup (vzdump's order). A failed prune or protected flag fails the
// guest after its data was written, as in vzdump.
Status Job::AfterArchive(GuestRun& g, int64_t backup_time) {
  std::string volid = fmt::format("{}:{}", opts_.storage, g.archive);
  if (!opts_.notes_template.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    std::string node = host;
    node = node.substr(0, node.find('.'));
    NotesVars vars{"", g.hook_env.hostname, node, g.vmid};
    auto notes = RenderNotesTemplate(opts_.notes_template, vars);
    Status s = notes.ok() ? provider_->UpdateAttribute(g.archive, "notes", *notes) : notes.status();
    if (!s.ok()) g.log->Log(LogLevel::kWarn, "unable to add notes - " + s.message());
  }
  if (opts_.is_protected) {
    Status s = provider_->UpdateAttribute(g.archive, "protected", true);
    if (!s.ok()) return s.WithContext("unable to set protected flag");
  }
  PruneOptions prune = Retention();
  if (prune.KeepsEverything() || !opts_.remove) return Status::OK();
  Info(g.log, "prune older backups with retention: " + prune.ToString());
  BackupEntry current;
  current.volname = g.archive;
  current.vmid = g.vmid;
  current.ctime = backup_time;
  current.is_protected = opts_.is_protected;
  ASSIGN_OR_RETURN(int pruned, PruneGuest(*provider_, g.vmid, prune, current, false, g.log));
  Info(g.log, fmt::format("pruned {} backup(s)", pruned));
  return Status::OK();
}

void Job::CleanupLocal(GuestRun& g) {
  g.lock.Release();
  bool clean = true;
  if (g.mode) {
    Status s = g.mode->Leave();
    if (!s.ok()) {
      g.log->Log(LogLevel::kErr, s.message());
      clean = false;
    }
    g.mode.reset();
  }
  if (!g.snapdir.empty()) ::rmdir(g.snapdir.c_str());
  if (!g.tmpdir.empty()) {
    Status s = RemoveTreeWithProgress(g.tmpdir, g.log);
    if (!s.ok()) {
      g.log->Log(LogLevel::kWarn, s.message());
      clean = false;
    }
  }
  // Only when everything was undone: otherwise `ctdump cleanup` (or the next
  // job) still knows what to repair.
  if (g.journal && clean) {
    Status s = g.journal->Clear();
    if (!s.ok()) g.log->Log(LogLevel::kWarn, s.message());
  }
}

}  // namespace

JobResult RunBackupJob(const ResolvedJobOptions& options, const Paths& paths, Observer* observer,
                       const JobSeams& seams) {
  Job job(options, paths, observer, seams);
  JobResult result = job.Run();
  // For `ctdump status`; best effort (a failing write is a warning).
  RecordJobResult(paths.state_dir, options, result, observer);
  return result;
}

}  // namespace ctdump::backup
