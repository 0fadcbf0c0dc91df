#include "cli/datastore_commands.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "backup/task_log.h"
#include "crypt/crypt.h"
#include "datastore/maintenance.h"
#include "datastore/reader.h"
#include "datastore/tar_export.h"
#include "extract/extract.h"
#include "fuse/snapshot_fs.h"
#include "objstore/local_backend.h"
#include "providers/datastore_provider.h"
#include "registry/registry.h"
#include "sys/file.h"

namespace ctdump::cli {
namespace {

using json = nlohmann::json;

int Fail(const CommandContext& c, const Status& s) {
  c.out->Log(LogLevel::kErr, s.message());
  return 1;
}

Result<std::unique_ptr<datastore::Datastore>> OpenById(const CommandContext& c,
                                                       const std::string& id) {
  ASSIGN_OR_RETURN(auto storages, registry::LoadStorageConfig(c.config_dir));
  for (const auto& s : storages) {
    if (s.id != id) continue;
    if (s.type != "datastore")
      return InvalidArgumentError(
          fmt::format("storage '{}' is of type '{}', not a datastore", id, s.type));
    return providers::OpenDatastore(s);
  }
  return NotFoundError(fmt::format("storage '{}' does not exist", id));
}

struct Volume {
  std::unique_ptr<datastore::Datastore> ds;
  std::string volname;
};

Result<Volume> OpenVolume(const CommandContext& c, const std::string& volid) {
  auto colon = volid.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == volid.size())
    return InvalidArgumentError(
        fmt::format("volume '{}' is not of the form <storage>:<volname>", volid));
  Volume v;
  ASSIGN_OR_RETURN(v.ds, OpenById(c, volid.substr(0, colon)));
  v.volname = volid.substr(colon + 1);
  RETURN_IF_ERROR(datastore::ParseVolume(v.volname).status());
  return v;
}

char TypeChar(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'd';
    case S_IFLNK:
      return 'l';
    case S_IFCHR:
      return 'c';
    case S_IFBLK:
      return 'b';
    case S_IFIFO:
      return 'p';
    case S_IFSOCK:
      return 's';
    default:
      return '-';
  }
}

std::string ModeString(uint32_t mode) {
  std::string s(10, '-');
  s[0] = TypeChar(mode);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i)
    if (mode & (1u << (8 - i))) s[1 + i] = rwx[i];
  if (mode & S_ISUID) s[3] = (mode & S_IXUSR) ? 's' : 'S';
  if (mode & S_ISGID) s[6] = (mode & S_IXGRP) ? 's' : 'S';
  if (mode & S_ISVTX) s[9] = (mode & S_IXOTH) ? 't' : 'T';
  return s;
}

std::string TimeString(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
  return buf;
}

}  // namespace

int RunKeyCreate(const CommandContext& c, const std::string& path) {
  auto key = crypt::Key::Generate();
  if (!key.ok()) return Fail(c, key.status());
  Status s = key->SaveFile(path);
  if (!s.ok()) return Fail(c, s);
  c.out->Log(LogLevel::kInfo,
             fmt::format("created encryption key \"{}\" (fingerprint {}); keep a copy somewhere "
                         "safe: backups made with it cannot be read without it",
                         path, crypt::FingerprintString(key->fingerprint())));
  return 0;
}

int RunDatastoreCreate(const CommandContext& c, const std::string& path) {
  if (path.empty() || path[0] != '/')
    return Fail(c, InvalidArgumentError(
                       fmt::format("datastore path \"{}\" must be an absolute path", path)));
  Status made = sys::MakeDirs(path, 0700);  // a missing directory is created
  if (!made.ok()) return Fail(c, made);
  objstore::LocalBackendOptions bo;
  bo.file_mode = 0600;  // as OpenDatastore: other containers' data, root only
  bo.dir_mode = 0700;
  auto backend = objstore::OpenLocalBackend(path, bo);
  if (!backend.ok()) return Fail(c, backend.status());
  auto ds =
      datastore::Datastore::Create(std::move(*backend), fmt::format("datastore \"{}\"", path));
  if (!ds.ok()) return Fail(c, ds.status());
  c.out->Log(LogLevel::kInfo,
             fmt::format("created a datastore in \"{}\"; use it with a storage.cfg section like "
                         "'datastore: <id>' + 'path {}'",
                         path, path));
  return 0;
}

int RunVerify(const CommandContext& c, const std::string& storage,
              const std::optional<std::string>& volume) {
  auto ds = OpenById(c, storage);
  if (!ds.ok()) return Fail(c, ds.status());
  c.out->Log(LogLevel::kInfo,
             volume ? fmt::format("verifying backup '{}' on storage '{}'", *volume, storage)
                    : fmt::format("verifying every chunk and backup of storage '{}'", storage));
  auto start = std::chrono::steady_clock::now();
  auto r = datastore::Verify(**ds, volume, 0, c.out);
  if (!r.ok()) return Fail(c, r.status());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& p : r->problems) c.out->Log(LogLevel::kErr, p);
  for (const auto& v : r->damaged_snapshots)
    c.out->Log(LogLevel::kErr, fmt::format("backup '{}:{}' is damaged", storage, v));
  for (const auto& v : r->other_key_snapshots)
    c.out->Log(LogLevel::kErr,
               fmt::format("backup '{}:{}' is encrypted with another key (or none is configured, "
                           "or it is not encrypted but the storage has a key): its references "
                           "were checked, not its content, and it cannot be restored with this "
                           "configuration",
                           storage, v));
  if (r->deleted_meanwhile)
    c.out->Log(LogLevel::kInfo, fmt::format("{} backup(s) were deleted while verify ran: not "
                                            "reported",
                                            r->deleted_meanwhile));
  if (r->other_key_chunks)
    c.out->Log(LogLevel::kWarn, fmt::format("{} chunks are encrypted with another key: only their "
                                            "presence was checked",
                                            r->other_key_chunks));
  c.out->Log(LogLevel::kInfo,
             fmt::format("verified {} backup(s), {} chunks, {} in {:.1f} s ({:.0f} MiB/s of "
                         "chunk data); {}",
                         r->snapshots, r->chunks, HumanBytes(r->chunk_bytes), secs,
                         secs > 0 ? static_cast<double>(r->chunk_bytes) / secs / 1048576 : 0.0,
                         r->ok() ? "no problems found"
                                 : fmt::format("{} problem(s) found", r->problems.size())));
  return r->ok() ? 0 : 1;
}

int RunGc(const CommandContext& c, const std::string& storage, bool dry_run) {
  auto ds = OpenById(c, storage);
  if (!ds.ok()) return Fail(c, ds.status());
  c.out->Log(LogLevel::kInfo, fmt::format("garbage collection on storage '{}'{}", storage,
                                          dry_run ? " (dry run)" : ""));
  auto r = datastore::CollectGarbage(**ds, dry_run, c.out);
  if (!r.ok()) return Fail(c, r.status());
  c.out->Log(LogLevel::kInfo,
             fmt::format("{} chunks, {} referenced; {} {} unreferenced chunks ({}); {} "
                         "unreferenced but too recent to remove; {} leftovers of interrupted "
                         "backups {}; {} damaged chunk copies (.bad) {}",
                         r->chunks, r->marked, dry_run ? "would remove" : "removed", r->removed,
                         HumanBytes(r->removed_bytes), r->kept_recent, r->leftovers_removed,
                         dry_run ? "would be removed" : "removed", r->bad_removed,
                         dry_run ? "would be removed" : "removed"));
  if (!dry_run)
    c.out->Log(LogLevel::kInfo, fmt::format("removed {} temporary files of interrupted writes and "
                                            "{} empty snapshot directories",
                                            r->temps_removed, r->dirs_removed));
  return 0;
}

namespace {

std::string HexBytes(std::string_view s) {
  std::string out;
  for (unsigned char ch : s) out += fmt::format("{:02x}", ch);
  return out;
}

}  // namespace

int RunCatalog(const CommandContext& c, const std::string& volid, const std::string& path) {
  auto v = OpenVolume(c, volid);
  if (!v.ok()) return Fail(c, v.status());
  auto prefix = datastore::NormalizeSnapshotPath(path);
  if (!prefix.ok()) return Fail(c, prefix.status());
  auto reader = datastore::SnapshotReader::Open(*v->ds, v->volname);
  if (!reader.ok()) return Fail(c, reader.status());
  bool found = false;
  json out = json::array();
  Status s = (*reader)->ForEachEntry([&](const datastore::Entry& e) -> Status {
    bool below = prefix->empty() || e.path == *prefix ||
                 (e.path.size() > prefix->size() && e.path.starts_with(*prefix) &&
                  e.path[prefix->size()] == '/');
    if (!below) return Status::OK();
    found = true;
    std::string shown = "/" + e.path;
    if (c.json) {
      json j = {{"path", shown},          {"type", std::string(1, TypeChar(e.mode))},
                {"mode", e.mode & 07777}, {"uid", e.uid},
                {"gid", e.gid},           {"size", e.size},
                {"mtime", e.mtime_sec}};
      if (!e.link.empty()) j[e.is_hardlink() ? "hardlink" : "target"] = "/" + e.link;
      if (!e.link.empty() && !e.is_hardlink()) j["target"] = e.link;
      // Names that are not UTF-8: the string has U+FFFD, "<key>-hex" the bytes.
      for (const char* key : {"path", "hardlink", "target"})
        if (j.contains(key) && !backup::IsUtf8(j[key].get<std::string>()))
          j[std::string(key) + "-hex"] = HexBytes(j[key].get<std::string>());
      out.push_back(std::move(j));
      return Status::OK();
    }
    // Text: control characters and bytes that are not UTF-8 as \xHH, one entry a line.
    std::string line = fmt::format("{} {:>6} {:>6} {:>12} {} {}", ModeString(e.mode), e.uid, e.gid,
                                   e.size, TimeString(e.mtime_sec), backup::EscapeControl(shown));
    if (S_ISLNK(e.mode)) line += " -> " + backup::EscapeControl(e.link);
    if (e.is_hardlink()) line += " link to /" + backup::EscapeControl(e.link);
    fmt::print("{}\n", line);
    return Status::OK();
  });
  if (!s.ok()) return Fail(c, s);
  if (c.json) fmt::print("{}\n", out.dump(1, ' ', false, json::error_handler_t::replace));
  if (!found)
    return Fail(c, NotFoundError(fmt::format("'/{}' is not in backup '{}'", *prefix, volid)));
  return 0;
}

int RunRestoreFile(const CommandContext& c, const std::string& volid,
                   const std::vector<std::string>& paths, const std::string& target,
                   bool keep_privileges) {
  if (::geteuid() != 0)
    return Fail(c, PermissionDeniedError("ctdump restore-file must run as root"));
  auto v = OpenVolume(c, volid);
  if (!v.ok()) return Fail(c, v.status());
  datastore::ExportOptions eo;
  for (const auto& p : paths) {
    auto n = datastore::NormalizeSnapshotPath(p);
    if (!n.ok()) return Fail(c, n.status());
    eo.paths.push_back(*n);
  }
  if (target.empty() || target[0] != '/')
    return Fail(
        c, InvalidArgumentError(fmt::format("--target \"{}\" must be an absolute path", target)));
  Status made = sys::MakeDirs(target, 0755);
  if (!made.ok()) return Fail(c, made);
  auto reader = datastore::SnapshotReader::Open(*v->ds, v->volname);
  if (!reader.ok()) return Fail(c, reader.status());
  extract::ExtractOptions xo;
  // Extracted as host root (no ID map) with the stored, container-view
  // owners, chrooted into the target: nothing lands outside it. A setuid
  // file of the container's root would be a setuid-root file on the host:
  // privileged bits and file capabilities only on request.
  xo.strip_privileges = !keep_privileges;
  auto stats = extract::ExtractStream(
      volid,
      [&](const std::function<Status(const void*, size_t)>& write,
          const std::function<bool()>& closed) {
        auto r = datastore::ExportTar(**reader, eo, write, closed, c.out);
        return r.status();
      },
      target, IdMap(), xo, c.out);
  if (!stats.ok()) return Fail(c, stats.status());
  c.out->Log(LogLevel::kInfo, fmt::format("restored {} entries ({}) from '{}' into \"{}\"",
                                          stats->entries, HumanBytes(stats->bytes), volid, target));
  if (stats->stripped_privileges)
    c.out->Log(LogLevel::kWarn,
               fmt::format("removed setuid/setgid bits or file capabilities from {} files (give "
                           "--keep-setuid-and-caps to keep them)",
                           stats->stripped_privileges));
  return 0;
}

int RunMount(const CommandContext& c, const std::string& volid, const std::string& dir) {
  auto v = OpenVolume(c, volid);
  if (!v.ok()) return Fail(c, v.status());
  auto reader = datastore::SnapshotReader::Open(*v->ds, v->volname);
  if (!reader.ok()) return Fail(c, reader.status());
  c.out->Log(LogLevel::kInfo,
             fmt::format("mounting '{}' read-only at \"{}\"; unmount with 'umount {}' or Ctrl-C",
                         volid, dir, dir));
  fuse::MountOptions mo;
  Status s = fuse::MountSnapshot(**reader, dir, mo, c.out);
  if (!s.ok()) return Fail(c, s);
  return 0;
}

}  // namespace ctdump::cli
