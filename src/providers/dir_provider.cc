#include "providers/dir_provider.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <regex>
#include <tuple>

#include "archive/archive_handle.h"
#include "archive/compressor.h"
#include "extract/tar_reader.h"
#include "extract/tar_source.h"
#include "providers/storage_path.h"
#include "sys/dir_list.h"
#include "sys/file.h"
#include "sys/signals.h"
#include "userns/userns.h"
#include "userns/worker_relay.h"

namespace ctdump::providers {
namespace {

using json = nlohmann::json;

constexpr char kGuestConfigMember[] = "./etc/vzdump/pct.conf";
constexpr char kFirewallMember[] = "./etc/vzdump/pct.fw";
constexpr size_t kMaxConfigSize = 1 << 20;
constexpr size_t kMaxNotesSize = 1 << 20;

std::string TmpPath(const std::string& archive_path) { return archive_path + ".tmp"; }

// vzdump's log file: the archive name without ".tar[.ext]" / ".tgz" plus ".log".
std::string LogName(const std::string& archive) {
  if (archive.ends_with(".tgz")) return archive.substr(0, archive.size() - 4) + ".log";
  return archive.substr(0, archive.rfind(".tar")) + ".log";
}

bool ParseInt(const std::string& s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

Status RemoveIfExists(const std::string& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return Status::OK();
  return ErrnoError(errno, fmt::format("Failed to remove \"{}\"", path));
}

Status FsyncDir(const std::string& dir) {
  sys::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0)
    return ErrnoError(errno, fmt::format("Failed to sync directory \"{}\"", dir));
  return Status::OK();
}

// Runs in the forked worker (container root): the archive goes to fd 1.
int RunWorker(const BackupInfo& info, const archive::TreeWriterOptions& options) {
  userns::LineObserver obs(2);
  auto stats = archive::WriteTree(info.directory, info.sources, options, 1, &obs);
  if (!stats.ok()) {
    obs.SendError(stats.status());
    return 1;
  }
  return 0;
}

// The archive behind a volume name, which must be a regular file (a FIFO or
// a device placed in dump/ must not block or feed endless data).
Result<sys::UniqueFd> OpenArchiveFile(const std::string& path, const std::string& volname,
                                      const std::string& storage_id) {
  auto fd = sys::OpenRegularFile(path);
  if (!fd.ok() && fd.status().code() == Code::kNotFound)
    return NotFoundError(
        fmt::format("backup '{}' does not exist on storage '{}'", volname, storage_id));
  return fd;
}

}  // namespace

std::string BackupBaseName(const std::string& vmid, int64_t ctime) {
  time_t t = static_cast<time_t>(ctime);
  struct tm tm {};
  ::tzset();
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y_%m_%d-%H_%M_%S", &tm);
  return fmt::format("vzdump-lxc-{}-{}", vmid, buf);
}

std::optional<BackupName> ParseBackupName(std::string_view volname) {
  static const std::regex re(
      R"(vzdump-lxc-([A-Za-z0-9_.+=:-]+)-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\.(?:tgz|tar(?:\.zst|\.gz|\.lzo|\.bz2)?))");
  std::cmatch m;
  if (!std::regex_match(volname.begin(), volname.end(), m, re)) return std::nullopt;
  struct tm tm {};
  tm.tm_year = std::stoi(m[2]) - 1900;
  tm.tm_mon = std::stoi(m[3]) - 1;
  tm.tm_mday = std::stoi(m[4]);
  tm.tm_hour = std::stoi(m[5]);
  tm.tm_min = std::stoi(m[6]);
  tm.tm_sec = std::stoi(m[7]);
  tm.tm_isdst = -1;
  ::tzset();
  BackupName b;
  b.vmid = m[1];
  b.ctime = static_cast<int64_t>(::mktime(&tm));
  return b;
}

DirProvider::~DirProvider() = default;

Result<std::unique_ptr<DirProvider>> DirProvider::Create(const Section& section,
                                                         Observer* observer) {
  std::unique_ptr<DirProvider> p(new DirProvider());
  p->storage_id_ = section.id;
  p->observer_ = observer;
  RETURN_IF_ERROR(p->ParseOptions(section));
  return p;
}

Status DirProvider::ParseOptions(const Section& section) {
  const std::string& id = section.id;
  ASSIGN_OR_RETURN(path_, StoragePath(section));
  dump_dir_ = path_ == "/" ? "/dump" : path_ + "/dump";
  if (auto c = section.Get("compress")) {
    auto parsed = archive::ParseCompression(*c);
    if (!parsed.ok()) return parsed.status().WithContext(fmt::format("storage '{}'", id));
    compression_ = *parsed;
  }
  if (auto z = section.Get("zstd")) {
    int64_t n;
    if (!ParseInt(*z, &n) || n < 0 || n > 256)
      return InvalidArgumentError(
          fmt::format("storage '{}': zstd '{}' is not a thread count (0-256)", id, *z));
    zstd_threads_ = static_cast<int>(n);
  }
  if (auto pb = section.Get("prune-backups")) {
    auto po = ParsePruneOptions(*pb);
    if (!po.ok()) return po.status().WithContext(fmt::format("storage '{}': prune-backups", id));
    prune_ = *po;
  }
  if (auto mp = section.Get("max-protected-backups")) {
    if (!ParseInt(*mp, &max_protected_) || max_protected_ < -1)
      return InvalidArgumentError(
          fmt::format("storage '{}': max-protected-backups '{}' is not an integer >= -1", id, *mp));
  }
  return Status::OK();
}

bool DirProvider::HasFeature(std::string_view feature) const {
  return feature == "list_backups" || feature == "delete_backup" || feature == "update_attribute";
}

Result<std::string> DirProvider::BackupPath(const std::string& volname) const {
  if (!ParseBackupName(volname))
    return InvalidArgumentError(
        fmt::format("'{}' is not a backup archive name on storage '{}'", volname, storage_id_));
  return dump_dir_ + "/" + volname;
}

Result<std::string> DirProvider::BackupInit(const std::string& vmid, int64_t start_time) {
  std::string archive = BackupBaseName(vmid, start_time) + archive::ArchiveSuffix(compression_);
  if (!ParseBackupName(archive))
    return InvalidArgumentError(
        fmt::format("container name '{}' cannot be part of an archive name", vmid));
  RETURN_IF_ERROR(sys::MakeDirs(dump_dir_));
  std::string path = dump_dir_ + "/" + archive;
  if (sys::PathExists(path))
    return AlreadyExistsError(fmt::format("backup archive \"{}\" already exists", path));
  archives_[vmid] = archive;
  return archive;
}

Status DirProvider::JobInit(int64_t start_time) {
  auto entries = sys::ListDirectory(dump_dir_);
  if (!entries.ok())  // none yet: nothing interrupted
    return entries.status().code() == Code::kNotFound ? Status::OK() : entries.status();
  std::vector<std::string> stale;
  for (const auto& e : *entries) {
    const std::string& n = e.name;
    if (n.rfind("vzdump-", 0) == 0 && n.size() > 4 && n.ends_with(".tmp")) stale.push_back(n);
  }
  for (const auto& n : stale) {
    if (observer_)
      observer_->Log(LogLevel::kInfo,
                     fmt::format("removing incomplete archive '{}' of an interrupted backup", n));
    RETURN_IF_ERROR(RemoveIfExists(dump_dir_ + "/" + n));
  }
  return Status::OK();
}

Result<std::string> DirProvider::BackupGetMechanism(const std::string& vmid) {
  return std::string("directory");
}

Result<json> DirProvider::BackupContainerPrepare(const std::string& vmid, const BackupInfo& info) {
  return json();  // nothing to prepare: the worker only reads
}

Status DirProvider::BackupContainer(const IdMap& map, const BackupContainerRequest& req) {
  auto it = archives_.find(req.vmid);
  if (it == archives_.end())
    return FailedPreconditionError(
        fmt::format("backup_container for '{}' without backup_init", req.vmid));
  const std::string tmp = TmpPath(dump_dir_ + "/" + it->second);
  RETURN_IF_ERROR(RemoveIfExists(tmp));
  sys::UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!out.valid()) return ErrnoError(errno, fmt::format("Failed to create \"{}\"", tmp));

  // The worker writes the plain tar stream; ctdump compresses it (zstd frames
  // with checksums, gzip, or lzop as vzdump's `compress lzo`).
  archive::TreeWriterOptions o;
  o.compression = archive::Compression::kNone;
  o.exclude_patterns = req.exclude_patterns;
  o.skip_lost_and_found = !map.empty();  // vzdump: unprivileged containers
  o.bwlimit = req.info.bandwidth_limit;
  o.prefix_files = {{"./etc/vzdump/pct.conf", req.guest_config},
                    {"./etc/vzdump/pct.fw", req.info.firewall_config}};
  sys::SpawnOptions so;
  so.argv = {"ctdump archive worker"};
  so.pipe_stdout = so.pipe_stderr = true;
  so.new_session = true;
  so.cwd = "/";
  const BackupInfo& info = req.info;
  auto worker = userns::ForkAsContainerRoot(map, so, [&info, &o] { return RunWorker(info, o); });
  archive::CompressorOptions co;
  co.zstd_threads = zstd_threads_;
  co.what = fmt::format("\"{}\"", tmp);
  auto compressor = archive::MakeCompressor(compression_, out.get(), co);
  Status s = !worker.ok() ? worker.status()
             : !compressor.ok()
                 ? compressor.status()
                 : userns::RelayWorker(*worker, "archive worker", observer_,
                                       [&compressor](const char* data, size_t n) {
                                         return (*compressor)->Write(std::string_view(data, n));
                                       });
  if (s.ok()) s = (*compressor)->Finish();
  if (s.ok() && ::fsync(out.get()) != 0)
    s = ErrnoError(errno, fmt::format("Failed to sync \"{}\"", tmp));
  if (s.ok() && ::close(out.Release()) != 0)
    s = ErrnoError(errno, fmt::format("Failed to close \"{}\"", tmp));
  // Published as soon as it is complete, as vzdump renames before it prunes:
  // retention never deletes older archives while the new one is a .tmp.
  const std::string path = dump_dir_ + "/" + it->second;
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    s = ErrnoError(errno, fmt::format("Failed to rename \"{}\" to \"{}\"", tmp, path));
  if (s.ok()) s = FsyncDir(dump_dir_);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

Result<std::optional<uint64_t>> DirProvider::BackupCleanup(const std::string& vmid,
                                                           bool vmtype_known, bool success,
                                                           const std::string& error) {
  auto it = archives_.find(vmid);
  if (it == archives_.end()) {
    if (!success) return std::optional<uint64_t>();
    return FailedPreconditionError(fmt::format("no backup of '{}' in progress", vmid));
  }
  const std::string path = dump_dir_ + "/" + it->second;
  const std::string tmp = TmpPath(path);
  if (!success) {
    // Nothing of an incomplete backup stays but its log (as in vzdump). A
    // complete archive (the job failed later, e.g. in pruning) is kept:
    // deleting finished data would only lose it.
    RETURN_IF_ERROR(RemoveIfExists(tmp));
    if (!sys::PathExists(path)) {
      RETURN_IF_ERROR(RemoveIfExists(path + ".notes"));
      RETURN_IF_ERROR(RemoveIfExists(path + ".protected"));
    } else if (observer_) {
      observer_->Log(
          LogLevel::kWarn,
          fmt::format("keeping the complete archive '{}' of a backup that failed afterwards",
                      it->second));
    }
    return std::optional<uint64_t>();
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", path));
  return std::optional<uint64_t>(static_cast<uint64_t>(st.st_size));
}

Status DirProvider::BackupHandleLogFile(const std::string& vmid, const std::string& filename) {
  auto it = archives_.find(vmid);
  if (it == archives_.end()) return Status::OK();  // no backup_init: no name to file it under
  ASSIGN_OR_RETURN(std::string log, sys::ReadFile(filename));
  return sys::WriteFileAtomic(dump_dir_ + "/" + LogName(it->second), log, 0644);
}

Result<std::vector<BackupEntry>> DirProvider::ListBackups(const std::optional<std::string>& vmid) {
  std::vector<BackupEntry> out;
  auto entries = sys::ListDirectory(dump_dir_);
  if (!entries.ok()) {
    if (entries.status().code() == Code::kNotFound) return out;
    return entries.status();
  }
  for (const auto& [name, type] : *entries) {
    auto parsed = ParseBackupName(name);
    if (!parsed || (vmid && parsed->vmid != *vmid)) continue;
    std::string path = dump_dir_ + "/" + name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    BackupEntry e;
    e.volname = name;
    e.vmid = parsed->vmid;
    e.ctime = parsed->ctime;
    e.size = static_cast<uint64_t>(st.st_size);
    if (auto notes = sys::ReadRegularFile(path + ".notes", kMaxNotesSize); notes.ok())
      e.notes = notes->substr(0, notes->find('\n'));  // PVE lists the first line
    e.is_protected = sys::PathExists(path + ".protected");
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const BackupEntry& a, const BackupEntry& b) {
    return std::tie(a.vmid, a.ctime, a.volname) < std::tie(b.vmid, b.ctime, b.volname);
  });
  return out;
}

Result<std::optional<std::string>> DirProvider::ReadNotes(const std::string& volname) {
  ASSIGN_OR_RETURN(std::string path, BackupPath(volname));
  if (!sys::PathExists(path))
    return NotFoundError(
        fmt::format("backup '{}' does not exist on storage '{}'", volname, storage_id_));
  auto notes = sys::ReadRegularFile(path + ".notes", kMaxNotesSize);
  if (!notes.ok()) {
    if (notes.status().code() == Code::kNotFound) return std::optional<std::string>();
    return notes.status();
  }
  return std::optional<std::string>(std::move(*notes));
}

Status DirProvider::DeleteBackup(const std::string& volname) {
  ASSIGN_OR_RETURN(std::string path, BackupPath(volname));
  if (sys::PathExists(path + ".protected"))
    return FailedPreconditionError(fmt::format("backup '{}' is protected", volname));
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT)
      return NotFoundError(
          fmt::format("backup '{}' does not exist on storage '{}'", volname, storage_id_));
    return ErrnoError(errno, fmt::format("Failed to remove \"{}\"", path));
  }
  RETURN_IF_ERROR(RemoveIfExists(path + ".notes"));
  return RemoveIfExists(dump_dir_ + "/" + LogName(volname));
}

Status DirProvider::UpdateAttribute(const std::string& volname, const std::string& name,
                                    const json& value) {
  ASSIGN_OR_RETURN(std::string path, BackupPath(volname));
  // The job sets notes and protection before backup_cleanup publishes the
  // archive, so the .tmp of a running backup counts as the backup.
  if (!sys::PathExists(path) && !sys::PathExists(TmpPath(path)))
    return NotFoundError(
        fmt::format("backup '{}' does not exist on storage '{}'", volname, storage_id_));
  if (name == "notes") {
    if (!value.is_null() && !value.is_string())
      return InvalidArgumentError("attribute 'notes' must be a string");
    std::string notes = value.is_string() ? value.get<std::string>() : "";
    if (notes.empty()) return RemoveIfExists(path + ".notes");
    return sys::WriteFileAtomic(path + ".notes", notes, 0644);
  }
  if (name == "protected") {
    bool on = value.is_boolean()  ? value.get<bool>()
              : value.is_number() ? value.get<double>() != 0
                                  : !value.is_null();
    if (!on) return RemoveIfExists(path + ".protected");
    if (sys::PathExists(path + ".protected")) return Status::OK();
    return sys::WriteFileAtomic(path + ".protected", "", 0644);
  }
  return InvalidArgumentError(
      fmt::format("attribute '{}' is not supported for storage type 'dir'", name));
}

Result<RestoreMechanism> DirProvider::RestoreGetMechanism(const std::string& volname) {
  ASSIGN_OR_RETURN(std::string path, BackupPath(volname));
  RETURN_IF_ERROR(OpenArchiveFile(path, volname, storage_id_).status());
  return RestoreMechanism::kTar;
}

Result<std::string> DirProvider::RestoreContainerInit(const std::string& volname,
                                                      RestoreMechanism mechanism) {
  if (mechanism != RestoreMechanism::kTar)
    return InvalidArgumentError(
        fmt::format("storage '{}' restores with mechanism 'tar' only", storage_id_));
  RETURN_IF_ERROR(RestoreGetMechanism(volname).status());
  return dump_dir_ + "/" + volname;
}

// The configs: `./etc/vzdump/pct.conf` and `pct.fw`, found where PVE finds
// them (`tar xpf <archive> ./etc/vzdump/pct.conf`): anywhere in the archive,
// with the "./" prefix. vzdump writes them first, so the scan stops at the
// first member after them; an archive made otherwise is read to its end.
// lzop archives are decompressed by an unprivileged lzop (TarSource), never
// by a program libarchive would start as host root.
Result<std::map<std::string, std::string>> DirProvider::ReadLeadingFiles(
    const std::string& volname) {
  ASSIGN_OR_RETURN(std::string path, BackupPath(volname));
  ASSIGN_OR_RETURN(sys::UniqueFd fd, OpenArchiveFile(path, volname, storage_id_));
  ASSIGN_OR_RETURN(auto source, extract::OpenTarSource(fd.get(), path));
  archive::ReadHandle a(archive_read_new());
  extract::SupportTarInput(a.get());
  if (extract::OpenArchiveOn(a.get(), source.get()) != ARCHIVE_OK)
    return DataLossError(
        fmt::format("Failed to read archive \"{}\": {}", path, archive_error_string(a.get())));
  std::map<std::string, std::string> files;
  archive_entry* e;
  int r;
  const int signals_before = sys::InterruptCount();
  while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
    if (sys::InterruptCount() != signals_before)
      return CancelledError(fmt::format("reading \"{}\": interrupted by signal", path));
    std::string_view name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    const bool config = name == kGuestConfigMember || name == kFirewallMember;
    if (!config) {
      if (files.count(kGuestConfigMember)) break;
      continue;
    }
    if (archive_entry_filetype(e) != AE_IFREG ||
        archive_entry_size(e) > static_cast<la_int64_t>(kMaxConfigSize))
      return DataLossError(
          fmt::format("\"{}\" in archive \"{}\" is not a regular file of at most {} bytes", name,
                      path, kMaxConfigSize));
    std::string data(static_cast<size_t>(archive_entry_size(e)), '\0');
    for (size_t got = 0; got < data.size();) {
      la_ssize_t n = archive_read_data(a.get(), data.data() + got, data.size() - got);
      if (n <= 0)
        return DataLossError(fmt::format("Failed to read \"{}\" from archive \"{}\": {}", name,
                                         path,
                                         n < 0 ? archive_error_string(a.get()) : "truncated"));
      got += static_cast<size_t>(n);
    }
    files[std::string(name)] = std::move(data);
  }
  if (r < ARCHIVE_WARN)
    return DataLossError(
        fmt::format("Failed to read archive \"{}\": {}", path, archive_error_string(a.get())));
  return files;
}

Result<std::string> DirProvider::ArchiveGetGuestConfig(const std::string& volname) {
  ASSIGN_OR_RETURN(auto files, ReadLeadingFiles(volname));
  auto it = files.find(kGuestConfigMember);
  if (it == files.end())
    return NotFoundError(fmt::format(
        "unable to find guest config in archive '{}' (no member './etc/vzdump/pct.conf')",
        volname));
  return it->second;
}

Result<std::optional<std::string>> DirProvider::ArchiveGetFirewallConfig(
    const std::string& volname) {
  ASSIGN_OR_RETURN(auto files, ReadLeadingFiles(volname));
  auto it = files.find(kFirewallMember);
  if (it == files.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

}  // namespace ctdump::providers
