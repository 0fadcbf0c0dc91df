// GET /nodes/{node}/storage and the content endpoints (docs/design/
// api-server.md §5.3, shapes of docs/design/pve-api-facts.md §5), answered
// in-process from storage.cfg and the storages' own listings, as `ctdump
// list` and `ctdump df` read them.
//
// Permissions that depend on data, as PVE's check_volume_access for backups:
// a listing hides the backups of guests the caller may not VM.Audit unless it
// has Datastore.Allocate on the storage; one volume needs Datastore.Allocate
// on the storage, or Datastore.AllocateSpace on it and VM.Backup on the
// backup's guest.
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/provider.h"
#include "ctdump/section_config.h"
#include "datastore/datastore.h"
#include "datastore/maintenance.h"
#include "provider/volume_id.h"
#include "registry/registry.h"
#include "server/route_parts.h"
#include "server/routes.h"

namespace ctdump::server {
namespace {

using json = nlohmann::json;

constexpr char kAudit[] = "Datastore.Audit";
constexpr char kAllocateSpace[] = "Datastore.AllocateSpace";
constexpr char kAllocate[] = "Datastore.Allocate";
// The prefix of volume names in answers (PVE's form for dir and PBS storages).
constexpr char kBackupPrefix[] = "backup/";

// Warnings of listings have no reader in a request: dropped.
class QuietObserver : public Observer {
 public:
  void Log(LogLevel, std::string_view) noexcept override {}
};

json VmidJson(const std::string& name) {
  bool numeric = !name.empty() && name.size() <= 18 && name.front() != '0' &&
                 name.find_first_not_of("0123456789") == std::string::npos;
  if (!numeric) return json(name);
  return json(static_cast<int64_t>(std::stoll(name)));
}

bool Enabled(const Section& s) {
  auto v = s.Get("disable");
  return !v || !ParsePveBool(*v).value_or(false);
}

// The local directory a storage keeps its files in, "" for RADOS datastores
// and external providers (their space is not a local file system's).
std::string LocalPath(const Section& s) {
  if (s.type == "dir") return s.Get("path").value_or("");
  if (s.type == "datastore" && s.Get("backend").value_or("local") == "local")
    return s.Get("path").value_or("");
  return "";
}

bool Shared(const Section& s) {
  if (auto v = s.Get("shared")) return ParsePveBool(*v).value_or(false);
  return s.type == "datastore" && s.Get("backend").value_or("local") == "rados";
}

json StorageEntry(const Section& s) {
  bool enabled = Enabled(s);
  std::string path = LocalPath(s);
  uint64_t total = 0, used = 0, avail = 0;
  bool active = enabled;
  if (enabled && !path.empty()) {
    struct statvfs vfs {};
    if (::statvfs(path.c_str(), &vfs) == 0) {
      total = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
      used = static_cast<uint64_t>(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
      avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    } else {
      active = false;  // PVE: a storage it cannot activate is listed inactive
    }
  }
  json e = {{"storage", s.id},
            {"type", s.type},
            {"content", "backup"},
            {"active", active ? 1 : 0},
            {"enabled", enabled ? 1 : 0},
            {"shared", Shared(s) ? 1 : 0},
            {"total", total},
            {"used", used},
            {"avail", avail}};
  if (total > 0) e["used_fraction"] = static_cast<double>(used) / static_cast<double>(total);
  return e;
}

// True if a content filter ("backup", "iso,backup") takes backups.
bool WantsBackups(const std::string& content) {
  size_t start = 0;
  while (start <= content.size()) {
    size_t end = content.find_first_of(",; ", start);
    if (end == std::string::npos) end = content.size();
    if (content.compare(start, end - start, "backup") == 0) return true;
    start = end + 1;
  }
  return false;
}

// The archive's format as PVE names it: the extension from ".tar" on.
std::string ArchiveFormat(const std::string& volname) {
  std::string base = volname.substr(volname.rfind('/') + 1);
  if (base.ends_with(".tgz")) return "tgz";
  auto tar = base.rfind(".tar");
  if (tar != std::string::npos) return base.substr(tar + 1);
  auto dot = base.rfind('.');
  return dot == std::string::npos ? "raw" : base.substr(dot + 1);
}

// One backup of a listing, with what only datastores know.
struct Volume {
  BackupEntry entry;
  std::optional<bool> verified;          // datastore: the verify state, when there is one
  std::optional<std::string> encrypted;  // datastore: the key fingerprint, or "1"
};

Result<std::vector<Volume>> ListDatastore(const std::vector<Section>& storages,
                                          const std::string& id,
                                          const std::optional<std::string>& vmid) {
  QuietObserver quiet;
  ASSIGN_OR_RETURN(auto ds, registry::OpenDatastore(storages, id));
  ASSIGN_OR_RETURN(auto snaps, ds->ListSnapshots(vmid, &quiet));
  std::vector<Volume> out;
  for (auto& s : snaps) {
    Volume v;
    // As the datastore provider's ListBackups.
    v.entry.volname = s.volname;
    v.entry.vmid = s.name.vmid;
    v.entry.ctime = s.name.time;
    if (s.manifest_read) v.entry.size = s.manifest.Stat("bytes");
    if (s.unreadable)
      v.entry.notes = "(unreadable: " + *s.unreadable + ")";
    else if (s.notes)
      v.entry.notes = s.notes->substr(0, s.notes->find('\n'));
    v.entry.is_protected = s.is_protected;
    if (s.manifest_read && s.manifest.key_fingerprint)
      v.encrypted = *s.manifest.key_fingerprint;
    else if (s.unreadable)
      // "1": encrypted under a key this host lacks. (Not `= "1"`: GCC 12's
      // -Wrestrict false positive on assigning a literal to an optional<string>.)
      v.encrypted.emplace(1, '1');
    if (auto state = datastore::ReadVerifyState(*ds, s.volname)) v.verified = state->ok;
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<Volume>> ListVolumes(const std::vector<Section>& storages, const Section& s,
                                        const std::optional<std::string>& vmid) {
  if (s.type == "datastore") return ListDatastore(storages, s.id, vmid);
  QuietObserver quiet;
  ASSIGN_OR_RETURN(auto p, registry::OpenStorage(storages, s.id, &quiet));
  auto list = p->ListBackups(vmid);
  (void)p->Shutdown();  // a provider that ends badly after listing: the list stands
  if (!list.ok()) return list.status();
  std::vector<Volume> out;
  for (auto& e : *list) out.push_back(Volume{std::move(e), {}, {}});
  return out;
}

std::string Format(const Section& s, const std::string& volname) {
  return s.type == "datastore" ? "pbs-ct" : ArchiveFormat(volname);
}

json ContentEntry(const Section& s, const Volume& v) {
  const BackupEntry& b = v.entry;
  json e = {{"volid", s.id + ":" + kBackupPrefix + b.volname},
            {"content", "backup"},
            {"format", Format(s, b.volname)},
            {"subtype", b.vmtype},
            {"vmid", VmidJson(b.vmid)},
            {"ctime", b.ctime}};
  if (b.size) e["size"] = *b.size;
  if (b.notes) e["notes"] = *b.notes;
  if (b.is_protected) e["protected"] = 1;
  if (v.verified) e["verification"] = {{"state", *v.verified ? "ok" : "failed"}};
  if (v.encrypted) e["encrypted"] = *v.encrypted;
  return e;
}

// The storage.cfg and the section of the path's {storage}, or the error to answer.
struct Storage {
  registry::StorageConfig config;
  const Section* section = nullptr;
};

std::optional<api::ApiError> LoadStorage(const ServerContext& ctx, const std::string& id,
                                         Storage* out) {
  auto config = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!config.ok()) return api::StatusError(config.status());
  out->config = std::move(*config);
  for (const auto& s : out->config)
    if (s.id == id) out->section = &s;
  if (!out->section)
    return api::NamedParamError("storage", fmt::format("storage '{}' does not exist", id));
  return std::nullopt;
}

api::Param StorageParam() { return PathParam("storage", "pve-storage-id", "the storage id"); }

api::Permission StorageRead() {
  return api::Permission::Privs({{"/storage/{storage}", {kAudit, kAllocateSpace}, true}});
}

void ListStorages(const ServerContext& ctx, const api::HandlerContext& h) {
  auto config = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!config.ok()) return h.sink.Error(api::StatusError(config.status()));
  std::optional<std::string> content, only;
  if (h.params.contains("content")) content = h.params["content"].get<std::string>();
  if (h.params.contains("storage")) only = h.params["storage"].get<std::string>();
  bool only_enabled = h.params.value("enabled", false);
  json out = json::array();
  for (const auto& s : *config) {
    if (only && s.id != *only) continue;
    std::string acl = "/storage/" + s.id;
    if (!ctx.allowed(h.caller, acl, kAudit) && !ctx.allowed(h.caller, acl, kAllocateSpace))
      continue;
    // PVE: a content filter also hides disabled storages.
    if (content && (!WantsBackups(*content) || !Enabled(s))) continue;
    if (only_enabled && !Enabled(s)) continue;
    out.push_back(StorageEntry(s));
  }
  h.sink.Data(out);
}

void ListContent(const ServerContext& ctx, const api::HandlerContext& h) {
  std::string id = h.params["storage"].get<std::string>();
  Storage st;
  if (auto err = LoadStorage(ctx, id, &st)) return h.sink.Error(*err);
  if (h.params.contains("content") && h.params["content"].get<std::string>() != "backup")
    return h.sink.Data(json::array());  // a storage of ctdump holds backups only
  std::optional<std::string> vmid;
  if (h.params.contains("vmid")) vmid = h.params["vmid"].get<std::string>();
  auto volumes = ListVolumes(st.config, *st.section, vmid);
  if (!volumes.ok()) return h.sink.Error(api::StatusError(volumes.status()));
  bool admin = ctx.allowed(h.caller, "/storage/" + id, kAllocate);
  json out = json::array();
  for (const auto& v : *volumes) {
    if (!admin && !ctx.allowed(h.caller, "/vms/" + v.entry.vmid, "VM.Audit")) continue;
    out.push_back(ContentEntry(*st.section, v));
  }
  h.sink.Data(out);
}

// The volname of the path's {volume} ("<storage>:backup/<name>",
// "backup/<name>" or "<name>") on storage `s`, or the error to answer.
Result<std::string> VolumeName(const Section& s, const std::string& volume) {
  bool full = volume.find(':') != std::string::npos;
  // A volname of a datastore has no ':'; one of an external provider may
  // have: only an id that names this storage counts as a full one.
  if (full && volume.rfind(s.id + ":", 0) != 0 && s.type != "provider")
    return InvalidArgumentError(fmt::format("volume '{}' is not on storage '{}'", volume, s.id));
  std::string volid = volume.rfind(s.id + ":", 0) == 0 ? volume : s.id + ":" + volume;
  ASSIGN_OR_RETURN(provider::VolumeId id, provider::ParseVolumeId(volid));
  // Answers give every storage's backups as "backup/<volname>" (design §5.3).
  if (s.type == "provider" && id.volname.rfind(kBackupPrefix, 0) == 0)
    id.volname.erase(0, sizeof(kBackupPrefix) - 1);
  return id.volname;
}

json VolumeInfo(const Section& s, const Volume& v, const std::optional<std::string>& notes) {
  const BackupEntry& b = v.entry;
  uint64_t size = b.size.value_or(0), used = size;
  std::string path = s.id + ":" + kBackupPrefix + b.volname;
  if (s.type == "dir") {
    std::string dir = LocalPath(s);
    path = (dir == "/" ? "" : dir) + "/dump/" + b.volname;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) used = static_cast<uint64_t>(st.st_blocks) * 512;
  }
  json e = {{"path", path},
            {"size", size},
            {"used", used},
            {"format", Format(s, b.volname)},
            {"protected", b.is_protected ? 1 : 0}};
  if (notes) e["notes"] = *notes;
  return e;
}

// The whole notes of a backup (listings have their first line only), where
// reading them can never ask for a passphrase: dir sidecars, and datastore
// snapshots that are not encrypted. nullopt: keep the listing's.
std::optional<std::optional<std::string>> WholeNotes(const registry::StorageConfig& config,
                                                     const Section& s, const Volume& v) {
  Result<std::optional<std::string>> whole = std::optional<std::string>();
  if (s.type == "dir") {
    QuietObserver quiet;
    auto p = registry::OpenStorage(config, s.id, &quiet);
    if (!p.ok()) return std::nullopt;
    whole = (*p)->ReadNotes(v.entry.volname);
    (void)(*p)->Shutdown();
  } else if (s.type == "datastore" && !v.encrypted) {
    auto ds = registry::OpenDatastore(config, s.id);
    if (!ds.ok()) return std::nullopt;
    whole = (*ds)->ReadNotes(v.entry.volname);
  } else {
    return std::nullopt;
  }
  if (!whole.ok()) return std::nullopt;
  return std::move(*whole);
}

void GetVolume(const ServerContext& ctx, const api::HandlerContext& h) {
  std::string id = h.params["storage"].get<std::string>();
  std::string volume = h.params["volume"].get<std::string>();
  Storage st;
  if (auto err = LoadStorage(ctx, id, &st)) return h.sink.Error(*err);
  std::string acl = "/storage/" + id;
  bool admin = ctx.allowed(h.caller, acl, kAllocate);
  if (!admin && !ctx.allowed(h.caller, acl, kAllocateSpace))
    return h.sink.Error(api::PermissionError(acl, kAllocateSpace));
  auto volname = VolumeName(*st.section, volume);
  if (!volname.ok())
    return h.sink.Error(api::NamedParamError("volume", volname.status().message()));
  auto unknown = [&] {
    return api::NamedParamError("volume", fmt::format("volume '{}' does not exist", volume));
  };
  std::optional<std::string> vmid;
  if (st.section->type == "datastore") {
    auto name = datastore::ParseVolume(*volname);
    if (!name.ok()) return h.sink.Error(unknown());
    vmid = name->vmid;
  }
  auto volumes = ListVolumes(st.config, *st.section, vmid);
  if (!volumes.ok()) return h.sink.Error(api::StatusError(volumes.status()));
  auto it = std::find_if(volumes->begin(), volumes->end(),
                         [&](const Volume& v) { return v.entry.volname == *volname; });
  if (it == volumes->end()) return h.sink.Error(unknown());
  if (!admin && !ctx.allowed(h.caller, "/vms/" + it->entry.vmid, "VM.Backup"))
    return h.sink.Error(api::PermissionError("/vms/" + it->entry.vmid, "VM.Backup"));
  std::optional<std::string> notes = it->entry.notes;
  if (auto whole = WholeNotes(st.config, *st.section, *it)) notes = std::move(*whole);
  h.sink.Data(VolumeInfo(*st.section, *it, notes));
}

}  // namespace

std::vector<api::Route> StorageRoutes(const ServerContext& ctx) {
  std::vector<api::Route> t;
  t.push_back(
      {.method = api::Method::kGet,
       .path = "/nodes/{node}/storage",
       .description = "The storages of storage.cfg the caller may audit.",
       .params = {NodeParam(),
                  {.name = "content",
                   .description = "only storages holding this content (ctdump's: backup); also "
                                  "hides disabled storages"},
                  {.name = "enabled",
                   .type = api::ParamType::kBoolean,
                   .description = "only enabled storages",
                   .default_value = 0},
                  {.name = "storage",
                   .description = "only this storage",
                   .format = "pve-storage-id"},
                  {.name = "target",
                   .description = "accepted and ignored (a single node)",
                   .format = "pve-node"},
                  {.name = "format",
                   .type = api::ParamType::kBoolean,
                   .description = "accepted and ignored"}},
       .permission = api::Permission::Authenticated(
           "only storages with Datastore.Audit or Datastore.AllocateSpace on /storage/<id>"),
       .handler = [&ctx](const api::HandlerContext& h) { ListStorages(ctx, h); }});
  t.push_back({.method = api::Method::kGet,
               .path = "/nodes/{node}/storage/{storage}",
               .description = "Storage index.",
               .params = {NodeParam(), StorageParam()},
               .permission = StorageRead(),
               // PVE's diridx: the children, without looking the storage up.
               .index = true});
  t.push_back(
      {.method = api::Method::kGet,
       .path = "/nodes/{node}/storage/{storage}/content",
       .description = "The backups of a storage.",
       .params = {NodeParam(),
                  StorageParam(),
                  {.name = "content",
                   .description = "only this content type (ctdump's storages hold backups only)"},
                  {.name = "vmid",
                   .description = "only this container's backups",
                   .format = "ctdump-guest"}},
       .permission = StorageRead(),
       .handler = [&ctx](const api::HandlerContext& h) { ListContent(ctx, h); }});
  t.push_back({.method = api::Method::kGet,
               .path = "/nodes/{node}/storage/{storage}/content/{volume*}",
               .description = "One backup's attributes.",
               .params = {NodeParam(), StorageParam(),
                          PathParam("volume", "", "the volume id, or its volname")},
               .permission = api::Permission::Custom(
                   "Datastore.Allocate on /storage/<storage>, or Datastore.AllocateSpace on it "
                   "and VM.Backup on /vms/<the backup's guest>"),
               .handler = [&ctx](const api::HandlerContext& h) { GetVolume(ctx, h); }});
  return t;
}

}  // namespace ctdump::server
