#include "restore/restore.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "container/container.h"
#include "ctdump/idmap.h"
#include "ctdump/provider.h"
#include "extract/extract.h"
#include "provider/volume_id.h"
#include "registry/registry.h"
#include "restore/guest_config.h"
#include "restore/restore_journal.h"
#include "restore/subordinate_ids.h"
#include "sys/dir_list.h"
#include "sys/file.h"
#include "sys/journal.h"
#include "sys/lock_file.h"

namespace ctdump::restore {
namespace {

constexpr const char* kPrivilegedRefusal =
    "refusing to restore privileged container backup from external source";

// Removes what a restore created unless it succeeded. Every path goes into
// the journal before it is created, so a SIGKILL leaves a record for
// `ctdump cleanup` or the next restore of the name.
class Undo {
 public:
  Undo(Observer* log, RestoreJournal* journal) : log_(log), journal_(journal) {}
  ~Undo() {
    if (committed_) return;
    bool clean = true;
    if (!subvolume_.empty() && sys::PathExists(subvolume_)) {
      btrfs_util_error e =
          btrfs_util_delete_subvolume(subvolume_.c_str(), BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE);
      if (e != BTRFS_UTIL_OK) {
        log_->Log(LogLevel::kWarn, fmt::format("unable to delete subvolume '{}': {}", subvolume_,
                                               btrfs_util_strerror(e)));
        clean = false;
      }
    }
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      if (!sys::PathExists(*it)) continue;
      Status s = sys::RemoveTree(*it);
      if (!s.ok()) {
        log_->Log(LogLevel::kWarn, s.message());
        clean = false;
      }
    }
    // What could not be removed stays in the journal for `ctdump cleanup`.
    if (clean) journal_->Clear().IgnoreError();
  }
  Status WillCreateDir(std::string d) {
    dirs_.push_back(d);
    return journal_->WillCreateDir(d);
  }
  Status WillCreateSubvolume(std::string s) {
    subvolume_ = s;
    return journal_->WillCreateSubvolume(s);
  }
  // `keep_journal`: a restore test's container stays listed until it is
  // destroyed.
  void Commit(bool keep_journal = false) {
    committed_ = true;
    if (keep_journal) return;
    Status s = journal_->Clear();
    if (!s.ok()) log_->Log(LogLevel::kWarn, s.message());
  }

 private:
  Observer* log_;
  RestoreJournal* journal_;
  std::vector<std::string> dirs_;
  std::string subvolume_;
  bool committed_ = false;
};

struct Rootfs {
  std::string spec;  // "dir:/p" / "btrfs:/p"
  std::string path;
};

// A directory that cannot be read completely counts as not empty.
bool IsEmptyDir(const std::string& p) {
  auto entries = sys::ListDirectory(p);
  return entries.ok() && entries->empty();
}

Result<Rootfs> CreateRootfs(const RestoreOptions& o, const Paths& paths, const IdMap& map,
                            Undo& undo) {
  Rootfs r;
  if (!o.rootfs_storage.empty()) {
    if (o.rootfs_storage.rfind("btrfs:", 0) != 0)
      return InvalidArgumentError(
          fmt::format("--rootfs-storage '{}': only 'btrfs:<path>' is supported", o.rootfs_storage));
    std::string base = o.rootfs_storage.substr(6);
    if (base.empty() || base[0] != '/')
      return InvalidArgumentError(
          fmt::format("--rootfs-storage '{}': the path must be absolute", o.rootfs_storage));
    r.path = base + "/" + o.name;
    if (sys::PathExists(r.path))
      return AlreadyExistsError(fmt::format("subvolume '{}' already exists", r.path));
    RETURN_IF_ERROR(undo.WillCreateSubvolume(r.path));
    btrfs_util_error e = btrfs_util_create_subvolume(r.path.c_str(), 0, nullptr, nullptr);
    if (e != BTRFS_UTIL_OK)
      return IOError(
          fmt::format("unable to create btrfs subvolume '{}': {}", r.path, btrfs_util_strerror(e)));
    r.spec = "btrfs:" + r.path;
  } else {
    r.path =
        o.rootfs_dir.empty() ? fmt::format("{}/{}/rootfs", paths.lxcpath, o.name) : o.rootfs_dir;
    while (r.path.size() > 1 && r.path.back() == '/') r.path.pop_back();
    if (r.path[0] != '/' || r.path == "/")
      return InvalidArgumentError(
          fmt::format("--rootfs '{}' must be an absolute path other than /", r.path));
    struct stat st;
    if (::lstat(r.path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
      return InvalidArgumentError(
          fmt::format("root file system '{}' is not a directory (or is a symlink)", r.path));
    if (sys::PathExists(r.path)) {
      if (!o.force && !IsEmptyDir(r.path))
        return AlreadyExistsError(fmt::format(
            "root file system '{}' exists and is not empty (use --force to restore over it)",
            r.path));
    } else {
      RETURN_IF_ERROR(undo.WillCreateDir(r.path));
      RETURN_IF_ERROR(sys::MakeDirs(r.path, 0755));
    }
    r.spec = "dir:" + r.path;
  }
  if (::chown(r.path.c_str(), map.root_uid(), map.root_gid()) != 0 ||
      ::chmod(r.path.c_str(), 0755) != 0)
    return ErrnoError(errno, fmt::format("Failed to prepare root file system '{}'", r.path));
  return r;
}

// A map read from a backup is used only inside the host ids delegated to
// root (/etc/subuid, /etc/subgid), as LXC's own unprivileged setup does.
Status CheckBackedUpMap(const IdMap& map) {
  auto ranges = [](const char* path) {
    auto text = sys::ReadFile(path);
    return DelegatedRanges(text.ok() ? *text : "", "root", "0");
  };
  Status s = CheckDelegated(map, ranges("/etc/subuid"), ranges("/etc/subgid"));
  if (s.ok()) return s;
  return FailedPreconditionError(fmt::format(
      "not using the ID map stored in the backup ({}): {}; pass --idmap (e.g. --idmap \"u 0 "
      "100000 65536\" --idmap \"g 0 100000 65536\") to choose the new container's host ids",
      map.ToString(), s.message()));
}

Result<IdMap> TargetMap(const RestoreOptions& o, const BackedUpConfig& b, bool unprivileged,
                        bool untrusted, Observer* log) {
  if (!unprivileged) {
    if (!o.idmap.empty())
      return InvalidArgumentError(
          "--idmap needs an unprivileged container (drop --unprivileged 0)");
    return IdMap();
  }
  // An external backup's map would choose host ids for the new container:
  // not trusted, PVE's default unless --idmap says otherwise.
  std::vector<std::string> backed_up = b.unprivileged ? b.idmap_values : std::vector<std::string>();
  if (untrusted && o.idmap.empty() && !backed_up.empty()) {
    log->Log(
        LogLevel::kInfo,
        "not using the ID map stored in an external backup; default map (give --idmap to choose)");
    backed_up.clear();
  }
  const auto& values = !o.idmap.empty() ? o.idmap : backed_up;
  auto map = IdMap::Parse(values, true);
  if (!map.ok())
    return map.status().WithContext(!o.idmap.empty() ? "--idmap" : "backed-up lxc.idmap");
  for (const auto& e : map->entries())
    if (e.host_start == 0)
      return InvalidArgumentError(
          fmt::format("ID map ({}) maps container ids to host id 0", map->ToString()));
  if (o.idmap.empty() && !backed_up.empty()) RETURN_IF_ERROR(CheckBackedUpMap(*map));
  return map;
}

std::string RandomMacAddress() {
  uint8_t bytes[6];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  return LocalMacAddress(bytes);
}

// The backup's logical size (file data) as the store lists it: the total of
// a streamed restore's progress; nullopt when the listing has none.
std::optional<uint64_t> LogicalSize(Provider& p, const std::string& volname) {
  auto list = p.ListBackups(std::nullopt);
  if (!list.ok()) return std::nullopt;  // progress without a total
  for (const auto& e : *list)
    if (e.volname == volname) return e.size;
  return std::nullopt;
}

// restore_get_mechanism, asking for `wanted` when given: refused before
// the provider is asked when it declared the mechanisms it offers and
// `wanted` is not one of them, and when it answers with another one. Losses
// the provider declared for the mechanism are a warning.
Result<RestoreMechanism> ChooseMechanism(Provider& p, const std::string& volname,
                                         std::optional<RestoreMechanism> wanted, Observer* log) {
  if (wanted) {
    std::vector<RestoreMechanism> offered = p.OfferedRestoreMechanisms();
    if (!offered.empty() && std::find(offered.begin(), offered.end(), *wanted) == offered.end()) {
      std::string names;
      for (RestoreMechanism o : offered)
        names += (names.empty() ? "" : ", ") + std::string(RestoreMechanismName(o));
      return InvalidArgumentError(fmt::format(
          "storage '{}' ({}) does not restore through the '{}' mechanism; it offers: {} "
          "(--mechanism)",
          p.storage_id(), p.name(), RestoreMechanismName(*wanted), names));
    }
    p.RequestRestoreMechanism(wanted);
  }
  ASSIGN_OR_RETURN(RestoreMechanism m, p.RestoreGetMechanism(volname));
  if (wanted && m != *wanted)
    return FailedPreconditionError(fmt::format(
        "storage '{}' ({}) answered restore mechanism '{}' although '{}' was asked for: the "
        "provider does not know the 'mechanism' parameter (restore without --mechanism, or "
        "change the provider's configured mechanism)",
        p.storage_id(), p.name(), RestoreMechanismName(m), RestoreMechanismName(*wanted)));
  log->Log(LogLevel::kInfo, fmt::format("restore mechanism: {}{}", RestoreMechanismName(m),
                                        wanted ? " (asked for)" : ""));
  std::vector<std::string> losses = p.RestoreLosses(m);
  if (!losses.empty()) {
    std::string words;
    for (const auto& w : losses) words += (words.empty() ? "" : ", ") + w;
    log->Log(LogLevel::kWarn,
             fmt::format("storage '{}' ({}) declares that a restore through the '{}' mechanism "
                         "loses: {} (docs/provider-protocol.md §6)",
                         p.storage_id(), p.name(), RestoreMechanismName(m), words));
  }
  return m;
}

}  // namespace

const std::vector<std::string>& ArchiveConfigMembers() {
  static const std::vector<std::string> members = {"./etc/vzdump/pct.conf", "./etc/vzdump/pct.fw"};
  return members;
}

namespace {

Status Extract(Provider& p, const std::string& volname, RestoreMechanism m, const std::string& root,
               const IdMap& map, const RestoreOptions& o, Observer* log) {
  extract::ExtractOptions eo;
  eo.force = o.force;
  eo.untrusted = p.external();
  eo.set_root_metadata = true;  // the new container's rootfs, made by this restore
  // vzdump's configs in the archive (read through restore's provider calls)
  // stay out of the container, as PVE unlinks them after extraction.
  eo.skip_members = ArchiveConfigMembers();
  if (o.bwlimit_kib) {
    eo.bwlimit = o.bwlimit_kib * 1024;
    log->Log(LogLevel::kInfo, fmt::format("restore bandwidth limit: {} KiB/s", o.bwlimit_kib));
  }
  Result<extract::ExtractStats> stats = InternalError("no extraction");
  if (p.StreamsRestore() && !p.external()) {
    // Straight from the store into the extraction: no file in between. A
    // fresh root holds nothing a symlink could be abused to reach.
    if (!o.force) eo.secure_symlinks = false;
    eo.logical_total = LogicalSize(p, volname);
    log->Log(LogLevel::kInfo,
             fmt::format("extracting backup '{}' from storage '{}'", volname, p.storage_id()));
    stats = extract::ExtractStream(
        volname,
        [&](const std::function<Status(const void*, size_t)>& write,
            const std::function<bool()>& closed) {
          return p.StreamRestore(volname, write, closed);
        },
        root, map, eo, log);
  } else {
    ASSIGN_OR_RETURN(std::string source, p.RestoreContainerInit(volname, m));
    log->Log(LogLevel::kInfo,
             fmt::format("extracting {} '{}'",
                         m == RestoreMechanism::kTar ? "archive" : "directory", source));
    stats = m == RestoreMechanism::kTar ? extract::ExtractTarFile(source, root, map, eo, log)
                                        : extract::CopyDirectory(source, root, map, eo, log);
  }
  if (!stats.ok()) return stats.status();
  log->Log(LogLevel::kInfo,
           fmt::format("extracted {} entries, {} bytes", stats->entries, stats->bytes));
  if (stats->skipped_existing)
    log->Log(LogLevel::kInfo, fmt::format("kept {} existing files", stats->skipped_existing));
  if (stats->unmapped_ids) {
    std::string first;
    for (const auto& e : stats->unmapped_examples) first += (first.empty() ? "" : ", ") + e;
    std::string acl = stats->unmapped_acl_entries
                          ? fmt::format("{} ACL entries among them; ", stats->unmapped_acl_entries)
                          : "";
    log->Log(
        LogLevel::kWarn,
        fmt::format("{} entries had owners or ACL entries the new ID map ({}) cannot represent; "
                    "they now belong to uid/gid {} inside the container ({}first: {})",
                    stats->unmapped_ids, map.ToString(), eo.fallback_uid, acl, first));
  }
  return Status::OK();
}

// syncfs(2) of the file system holding `path`: what was written to it is on
// disk when it returns OK.
Status SyncFileSystem(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, fmt::format("unable to open \"{}\" to sync it", path));
  int r = ::syncfs(fd);
  int err = errno;
  ::close(fd);
  if (r != 0) return ErrnoError(err, fmt::format("unable to sync \"{}\" to disk", path));
  return Status::OK();
}

}  // namespace

Status CheckRestoreNames(const RestoreOptions& o) {
  if (o.name.empty() || o.name.size() > 64 || o.name[0] == '.' || o.name[0] == '-' ||
      o.name.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos)
    return InvalidArgumentError(fmt::format(
        "invalid container name '{}' (letters, digits, '_', '.', '-'; at most 64)", o.name));
  if (!o.rootfs_dir.empty() && !o.rootfs_storage.empty())
    return InvalidArgumentError("give either --rootfs or --rootfs-storage, not both");
  return Status::OK();
}

Status RunRestore(const RestoreOptions& o, const Paths& paths, Observer* log) {
  ASSIGN_OR_RETURN(provider::VolumeId volid, provider::ParseVolumeId(o.volid));
  const std::string& storage_id = volid.storage;
  const std::string& volname = volid.volname;
  RETURN_IF_ERROR(CheckRestoreNames(o));
  if (!o.hostname.empty()) RETURN_IF_ERROR(CheckHostname(o.hostname).WithContext("--hostname"));
  std::string ct_dir = fmt::format("{}/{}", paths.lxcpath, o.name);

  // The lock first, then the checks: two restores of one name cannot race.
  RETURN_IF_ERROR(sys::MakeDirs(paths.run_dir + "/lock", 0755));
  auto warn = [log](const std::string& m) { log->Log(LogLevel::kWarn, m); };
  ASSIGN_OR_RETURN(auto lock, sys::LockFile::Acquire(RestoreLockPath(paths.run_dir, o.name),
                                                     std::chrono::milliseconds(0), warn));
  // A restore of this name killed earlier (SIGKILL, power loss) left what
  // its journal lists: removed first, as `ctdump cleanup` would.
  const sys::JournalDirs journal_dirs = sys::MakeJournalDirs(paths.state_dir, paths.run_dir);
  RETURN_IF_ERROR(RepairAbandonedRestores(journal_dirs, paths.run_dir, log, o.name)
                      .status()
                      .WithContext(fmt::format(
                          "unable to remove what an interrupted restore of '{}' left", o.name)));
  if (sys::PathExists(ct_dir + "/config"))
    return AlreadyExistsError(
        fmt::format("container '{}' already exists in lxcpath \"{}\"", o.name, paths.lxcpath));
  if (sys::PathExists(ct_dir) && !IsEmptyDir(ct_dir) && !o.force)
    return AlreadyExistsError(fmt::format(
        "directory \"{}\" exists and is not empty (use --force to restore into it)", ct_dir));

  ASSIGN_OR_RETURN(auto storages, registry::LoadStorageConfig(paths.config_dir));
  ASSIGN_OR_RETURN(auto provider, registry::OpenStorage(storages, storage_id, log));
  log->Log(LogLevel::kInfo, fmt::format("restoring '{}' as container '{}'", o.volid, o.name));

  ASSIGN_OR_RETURN(std::string raw, provider->ArchiveGetGuestConfig(volname));
  ASSIGN_OR_RETURN(BackedUpConfig backed_up, InspectGuestConfig(raw));
  bool unprivileged = o.unprivileged.value_or(!o.idmap.empty() || backed_up.unprivileged);
  if (!unprivileged && provider->external()) return FailedPreconditionError(kPrivilegedRefusal);
  // A privileged container's root is host root: its files and its init come
  // from the backup, which anyone who can write the storage can forge. Only
  // an explicit --unprivileged 0 restores one privileged.
  if (!unprivileged && !o.unprivileged)
    return FailedPreconditionError(fmt::format(
        "'{}' is the backup of a privileged container: restored as such, its files and programs "
        "run as host root. Pass --unprivileged 1 to restore it unprivileged (recommended), or "
        "--unprivileged 0 if you trust this backup",
        o.volid));
  ASSIGN_OR_RETURN(IdMap map, TargetMap(o, backed_up, unprivileged, provider->external(), log));
  if (!backed_up.unprivileged && unprivileged)
    log->Log(LogLevel::kInfo, "restoring a privileged container's backup as unprivileged");

  RestoreJournal journal(journal_dirs, o.name, ct_dir, o.throwaway);
  Undo undo(log, &journal);
  if (!sys::PathExists(ct_dir)) {
    RETURN_IF_ERROR(undo.WillCreateDir(ct_dir));
    RETURN_IF_ERROR(sys::MakeDirs(ct_dir, 0755));
  }
  ASSIGN_OR_RETURN(Rootfs rootfs, CreateRootfs(o, paths, map, undo));
  ASSIGN_OR_RETURN(RestoreMechanism m, ChooseMechanism(*provider, volname, o.mechanism, log));
  Status extracted = Extract(*provider, volname, m, rootfs.path, map, o, log);
  Status cleanup = provider->RestoreContainerCleanup(volname);
  if (!extracted.ok()) {
    if (!cleanup.ok()) log->Log(LogLevel::kWarn, "restore cleanup failed - " + cleanup.message());
    return extracted;
  }
  RETURN_IF_ERROR(cleanup.WithContext("restore cleanup failed"));

  ASSIGN_OR_RETURN(auto fw, provider->ArchiveGetFirewallConfig(volname));
  RestoreTarget target{o.name, rootfs.spec, rootfs.path, paths.lxcpath, map, o.volid, {}, {}};
  if (!o.hostname.empty()) target.hostname = o.hostname;
  if (o.unique) target.new_hwaddr = RandomMacAddress;
  ASSIGN_OR_RETURN(RestoredConfig cfg, AdaptGuestConfig(raw, target));
  for (const auto& k : cfg.dropped)
    log->Log(LogLevel::kWarn, fmt::format("not restoring '{}' from the backup's config (only keys "
                                          "that cannot reach the host are restored)",
                                          k));
  if (fw && !fw->empty()) RETURN_IF_ERROR(sys::WriteFileAtomic(ct_dir + "/ctdump.fw", *fw, 0640));
  if (cfg.pct_conf)
    RETURN_IF_ERROR(sys::WriteFileAtomic(ct_dir + "/pct.conf", *cfg.pct_conf, 0640));
  // The config marks a finished restore (to LXC and to a repair): only
  // once the root file system is on disk, or a power loss could leave a
  // config (lxc-autostart would start it) over a half-written tree.
  RETURN_IF_ERROR(SyncFileSystem(rootfs.path));
  RETURN_IF_ERROR(sys::WriteFileAtomic(ct_dir + "/config", cfg.lxc_config, 0640));
  Status shutdown = provider->Shutdown();
  if (!shutdown.ok()) log->Log(LogLevel::kWarn, shutdown.message());
  undo.Commit(o.throwaway);
  log->Log(LogLevel::kInfo, fmt::format("restored container '{}' (root file system {}, ID map {})",
                                        o.name, rootfs.spec, map.ToString()));
  if (o.start) {
    ASSIGN_OR_RETURN(auto ct, container::Container::Open(o.name, paths.lxcpath));
    RETURN_IF_ERROR(
        ct.Start().WithContext(fmt::format("restored container '{}' did not start", o.name)));
    log->Log(LogLevel::kInfo, fmt::format("started container '{}'", o.name));
  }
  return Status::OK();
}

}  // namespace ctdump::restore
