// POST /nodes/{node}/vzdump and POST /nodes/{node}/lxc (restore) start
// tasks that run `ctdump backup` / `ctdump restore`; DELETE
// .../content/{volume*} one that runs `ctdump delete`; PUT
// .../content/{volume*} changes notes and protection in-process with the
// checks of `ctdump notes` / `protect` (backup/attributes.h).
// docs/design/api-server.md §5.3, pve-api-facts.md §5.
//
// Permissions (Custom, checked here; a denial names path and privilege):
//   vzdump   VM.Backup on each /vms/<ct> (all, exclude: on /vms),
//            Datastore.AllocateSpace on /storage/<storage> (the request's, else
//            ctdump.conf's), prune-backups: Datastore.Allocate there too,
//            bwlimit, ionice: Sys.Modify on /; tmpdir, dumpdir, script: root
//            only (Route::root_only, the dispatcher's check)
//   volume   Datastore.Allocate on /storage/<storage>, or
//            Datastore.AllocateSpace there and VM.Backup on /vms/<owner>
//            (PVE's check_volume_access); PUT, DELETE and restore's backup
//   restore  VM.Allocate on /vms/<vmid>, then the volume's check
#include "server/routes_backup.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "api/format.h"
#include "backup/attributes.h"
#include "backup/job_options.h"
#include "provider/volume_id.h"
#include "registry/registry.h"
#include "server/route_parts.h"
#include "server/routes.h"
#include "tasks/spawn.h"
#include "tasks/task_dir.h"
#include "tasks/task_status.h"
#include "tasks/upid.h"

namespace ctdump::server {
namespace {

using api::ParamType;
using nlohmann::json;

// How a vzdump parameter reaches `ctdump backup`.
enum class Map {
  kValue,    // --name=<value>
  kBool,     // --name=0|1
  kList,     // --name=<item> per item
  kIgnored,  // accepted, not passed (VM-only or not applicable)
  kOwn,      // handled by MakeVzdumpCommand itself (vmid, all, exclude)
};

struct VzdumpParam {
  api::Param param;
  Map map = Map::kValue;
};

const std::vector<VzdumpParam>& VzdumpParams() {
  static const std::vector<VzdumpParam> table = [] {
    auto str = [](std::string name, std::string description = {}) {
      return api::Param{.name = std::move(name), .description = std::move(description)};
    };
    auto boolean = [](std::string name) {
      return api::Param{.name = std::move(name), .type = ParamType::kBoolean};
    };
    auto uint = [](std::string name, double max) {
      return api::Param{
          .name = std::move(name), .type = ParamType::kInteger, .minimum = 0, .maximum = max};
    };
    auto enumeration = [](std::string name, std::vector<std::string> values) {
      return api::Param{.name = std::move(name), .enum_values = std::move(values)};
    };
    api::Param vmid = str("vmid", "containers (a list: a,b)");
    vmid.format = "ctdump-guest-list";
    api::Param exclude = str("exclude", "containers to skip; implies all");
    exclude.format = "ctdump-guest-list";
    api::Param storage = str("storage");
    storage.format = "pve-storage-id";
    api::Param exclude_path = str("exclude-path", "glob to exclude (repeat the key)");
    exclude_path.type = ParamType::kArray;
    api::Param notes = str("notes-template", "{{cluster}} {{guestname}} {{node}} {{vmid}}");
    notes.max_length = 1024;
    api::Param mailto = str("mailto", "addresses (a list: a,b)");
    mailto.format = "email-or-username-list";
    return std::vector<VzdumpParam>{
        {vmid, Map::kOwn},
        {boolean("all"), Map::kOwn},
        {exclude, Map::kOwn},
        {storage},
        {str("dumpdir"), Map::kValue},
        {str("tmpdir"), Map::kValue},
        {str("script"), Map::kValue},
        {enumeration("mode", {"snapshot", "suspend", "stop"})},
        {enumeration("compress", {"0", "1", "gzip", "lzo", "zstd"})},
        {uint("zstd", 256)},
        {uint("bwlimit", 1099511627776.0)},
        {uint("ionice", 8)},
        {uint("lockwait", 1000000)},
        {uint("stopwait", 1000000)},
        {boolean("stdexcludes"), Map::kBool},
        {exclude_path, Map::kList},
        {boolean("quiet"), Map::kBool},
        {boolean("remove"), Map::kBool},
        {str("prune-backups", "keep-last=3,keep-daily=7")},
        {notes},
        {boolean("protected"), Map::kBool},
        {mailto},
        {enumeration("mailnotification", {"always", "failure"})},
        {enumeration("notification-mode", {"auto", "legacy-sendmail", "notification-system"})},
        {boolean("force-full"), Map::kBool},  // ctdump's: datastore storages
        {api::Param{.name = "pigz", .type = ParamType::kInteger}, Map::kIgnored},
        {str("performance"), Map::kIgnored},
        {str("fleecing"), Map::kIgnored},
        {enumeration("pbs-change-detection-mode", {"legacy", "data", "metadata"}), Map::kIgnored},
        {boolean("stop"), Map::kIgnored},
    };
  }();
  return table;
}

std::string Text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  return v.dump();
}

std::vector<std::string> ListItems(const json& params, const char* name) {
  std::vector<std::string> items;
  if (!params.contains(name)) return items;
  // The text outlives the views SplitList returns into it.
  const std::string text = params[name].get<std::string>();
  for (std::string_view s : api::SplitList(text)) items.emplace_back(s);
  return items;
}

}  // namespace

std::vector<api::Param> VzdumpJobParams() {
  std::vector<api::Param> out;
  for (const VzdumpParam& p : VzdumpParams())
    if (p.map != Map::kIgnored) out.push_back(p.param);
  return out;
}

std::variant<VzdumpCommand, api::ParamErrors> MakeVzdumpCommand(const json& params) {
  VzdumpCommand c;
  api::ParamErrors errors;
  c.guests = ListItems(params, "vmid");
  std::vector<std::string> exclude = ListItems(params, "exclude");
  c.all = params.value("all", false) || params.contains("exclude");
  if (params.value("all", false) && params.contains("vmid"))
    errors["all"] = "option conflicts with option 'vmid'";
  if (params.contains("exclude") && params.contains("vmid"))
    errors["exclude"] = "option conflicts with option 'vmid'";
  if (!c.all && c.guests.empty()) errors["vmid"] = "property is missing and it is not optional";
  if (params.contains("storage") && params.contains("dumpdir"))
    errors["dumpdir"] = "option conflicts with option 'storage'";
  for (const char* needs_storage : {"notes-template", "protected"})
    if (params.contains(needs_storage) && !params.contains("storage"))
      errors["storage"] =
          fmt::format("missing property - '{}' requires this property", needs_storage);
  if (!errors.empty()) return errors;
  c.args.push_back("backup");
  if (c.all) c.args.push_back("--all");
  for (const std::string& e : exclude) c.args.push_back("--exclude=" + e);
  for (const VzdumpParam& p : VzdumpParams()) {
    const std::string& name = p.param.name;
    if (!params.contains(name) || p.map == Map::kOwn) continue;
    const json& v = params[name];
    switch (p.map) {
      case Map::kIgnored:
        c.ignored.push_back(name);
        break;
      case Map::kList:
        for (const json& item : v.is_array() ? v : json::array({v}))
          c.args.push_back("--" + name + "=" + Text(item));
        break;
      case Map::kBool:
        if (name == "force-full") {
          if (v.get<bool>()) c.args.push_back("--force-full");
          break;
        }
        c.args.push_back("--" + name + "=" + Text(v));
        break;
      default:
        c.args.push_back("--" + name + "=" + Text(v));
    }
  }
  std::sort(c.ignored.begin(), c.ignored.end());
  c.args.insert(c.args.end(), c.guests.begin(), c.guests.end());
  return c;
}

std::vector<std::string> MakeRestoreCommand(const json& params, const std::string& volid) {
  std::vector<std::string> args = {"restore"};
  for (const char* flag : {"start", "unique", "force"})
    if (params.value(flag, false)) args.push_back(std::string("--") + flag);
  if (params.contains("unprivileged"))
    args.push_back("--unprivileged=" + Text(params["unprivileged"]));
  for (const char* name : {"hostname", "rootfs", "rootfs-storage"})
    if (params.contains(name)) args.push_back(std::string("--") + name + "=" + Text(params[name]));
  if (params.contains("bwlimit"))
    args.push_back("--bwlimit=" + std::to_string(static_cast<uint64_t>(
                                      params["bwlimit"].get<double>())));  // KiB/s, whole
  if (params.contains("idmap")) {
    const json& v = params["idmap"];
    for (const json& item : v.is_array() ? v : json::array({v}))
      args.push_back("--idmap=" + Text(item));
  }
  args.push_back(volid);
  args.push_back(params.at("vmid").get<std::string>());
  return args;
}

std::variant<BackupVolume, api::ApiError> ResolveVolume(const std::string& storage,
                                                        const std::string& type,
                                                        const std::string& volume) {
  // As GET .../content/{volume} (routes_storage.cc): a volname of a built-in
  // storage has no ':', one of an external provider may have, so there only
  // "<storage>:" in front counts as a full id.
  const std::string prefix = storage + ":";
  const bool full = volume.rfind(prefix, 0) == 0;
  if (!full && volume.find(':') != std::string::npos && type != "provider")
    return api::NamedParamError("volume",
                                fmt::format("volume '{}' is not on storage '{}'", volume, storage));
  auto id = provider::ParseVolumeId(full ? volume : prefix + volume);
  if (!id.ok()) return api::NamedParamError("volume", id.status().message());
  // Answers give every storage's backups as "backup/<volname>" (design §5.3).
  constexpr std::string_view kBackupPrefix = "backup/";
  if (type == "provider" && id->volname.starts_with(kBackupPrefix))
    id->volname.erase(0, kBackupPrefix.size());
  return BackupVolume{id->storage, id->volname};
}

std::optional<std::string> BackupOwner(std::string_view volname) {
  // By hand, not std::regex: the name comes from the client (up to the URL's
  // 8 KiB), and libstdc++'s matcher recurses per character.
  if (volname.starts_with("ct/")) {
    std::string_view rest = volname.substr(3);
    size_t slash = rest.find('/');
    if (slash == 0 || slash == std::string_view::npos || slash + 1 == rest.size() ||
        rest.find('/', slash + 1) != std::string_view::npos)
      return std::nullopt;
    return std::string(rest.substr(0, slash));
  }
  constexpr std::string_view kPrefix = "vzdump-lxc-";
  if (!volname.starts_with(kPrefix)) return std::nullopt;
  std::string_view base = volname.substr(kPrefix.size());
  for (std::string_view ext : {".tar.zst", ".tar.gz", ".tar.lzo", ".tar"}) {
    if (!base.ends_with(ext)) continue;
    base.remove_suffix(ext.size());
    // "-YYYY_MM_DD-HH_MM_SS"
    constexpr std::string_view kTime = "-dddd_dd_dd-dd_dd_dd";
    if (base.size() <= kTime.size()) return std::nullopt;
    std::string_view time = base.substr(base.size() - kTime.size());
    for (size_t i = 0; i < kTime.size(); ++i) {
      bool digit = time[i] >= '0' && time[i] <= '9';
      if (kTime[i] == 'd' ? !digit : time[i] != kTime[i]) return std::nullopt;
    }
    return std::string(base.substr(0, base.size() - kTime.size()));
  }
  return std::nullopt;
}

namespace {

class NullObserver : public Observer {
 public:
  void Log(LogLevel, std::string_view) noexcept override {}
};

std::string FullId(const api::Caller& caller) {
  return caller.tokenid.empty() ? caller.userid : caller.userid + "!" + caller.tokenid;
}

// nullopt if the caller holds `priv` on `path`, else the 403.
std::optional<api::ApiError> Require(const ServerContext& ctx, const api::Caller& caller,
                                     const std::string& path, std::string_view priv) {
  if (ctx.allowed && ctx.allowed(caller, path, priv)) return std::nullopt;
  return api::PermissionError(path, priv);
}

// The storage half of PVE's check_volume_access: whether the caller holds
// Datastore.Allocate on it (then no owner check follows), or the 403 when it
// holds neither that nor Datastore.AllocateSpace.
std::variant<bool, api::ApiError> StorageAccess(const ServerContext& ctx, const api::Caller& caller,
                                                const std::string& storage) {
  const std::string path = "/storage/" + storage;
  if (!Require(ctx, caller, path, "Datastore.Allocate")) return true;
  if (auto e = Require(ctx, caller, path, "Datastore.AllocateSpace")) return *e;
  return false;
}

// The guest half: VM.Backup on the backup's container; a backup whose
// container is unknown needs Datastore.Allocate on the storage.
std::optional<api::ApiError> OwnerAccess(const ServerContext& ctx, const api::Caller& caller,
                                         const std::string& storage,
                                         const std::optional<std::string>& owner) {
  if (!owner) return api::PermissionError("/storage/" + storage, "Datastore.Allocate");
  return Require(ctx, caller, "/vms/" + *owner, "VM.Backup");
}

// Both halves, the owner read from the volname.
std::optional<api::ApiError> CheckVolumeAccess(const ServerContext& ctx, const api::Caller& caller,
                                               const BackupVolume& volume) {
  auto admin = StorageAccess(ctx, caller, volume.storage);
  if (auto* e = std::get_if<api::ApiError>(&admin)) return *e;
  if (std::get<bool>(admin)) return std::nullopt;
  return OwnerAccess(ctx, caller, volume.storage, BackupOwner(volume.volname));
}

// The type of storage `storage` ("dir", "datastore", "provider"), or 400 on
// `param` when storage.cfg has no such storage.
std::variant<std::string, api::ApiError> StorageType(const ServerContext& ctx,
                                                     const std::string& param,
                                                     const std::string& storage) {
  auto config = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!config.ok()) return api::StatusError(config.status());
  auto section = registry::FindStorage(static_cast<const std::vector<Section>&>(*config), storage);
  if (!section.ok()) return api::NamedParamError(param, section.status().message());
  return (*section)->type;
}

Result<tasks::Upid> StartTask(const ServerContext& ctx, const api::Caller& caller, std::string type,
                              std::string id, std::vector<std::string> command,
                              std::vector<std::string> notes = {}) {
  tasks::SpawnTaskOptions o;
  o.program = ctx.program;
  o.global_args = ctx.global_args;
  o.type = std::move(type);
  o.id = tasks::TaskIdFor(id);
  o.user = FullId(caller);
  o.command = std::move(command);
  o.notes = std::move(notes);
  // The daemon's paths, whatever its environment says.
  o.extra_env = {"CTDUMP_LOG_DIR=" + ctx.paths.log_dir, "CTDUMP_RUN_DIR=" + ctx.paths.run_dir,
                 "CTDUMP_STATE_DIR=" + ctx.paths.state_dir};
  return tasks::SpawnTask(o);
}

void AnswerTask(api::ResponseSink& sink, const Result<tasks::Upid>& upid) {
  if (!upid.ok()) return sink.Error(api::StatusError(upid.status()));
  sink.Data(tasks::EncodeUpid(*upid));
}

void Vzdump(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto cmd = MakeVzdumpCommand(hc.params);
  if (auto* errors = std::get_if<api::ParamErrors>(&cmd))
    return hc.sink.Error(api::ParamError(*errors));
  VzdumpCommand& c = std::get<VzdumpCommand>(cmd);
  std::optional<std::string> storage;
  if (hc.params.contains("storage")) {
    storage = hc.params["storage"].get<std::string>();
    auto type = StorageType(ctx, "storage", *storage);
    if (auto* e = std::get_if<api::ApiError>(&type)) return hc.sink.Error(*e);
  } else if (!hc.params.contains("dumpdir")) {
    auto conf = backup::LoadNodeDefaults(ctx.paths.config_dir);
    if (!conf.ok()) return hc.sink.Error(api::StatusError(conf.status()));
    storage = conf->Get("storage");  // ctdump.conf's, where the backup goes
  }
  std::vector<std::pair<std::string, std::string>> needed;
  if (c.all) needed.emplace_back("/vms", "VM.Backup");
  for (const std::string& g : c.guests) needed.emplace_back("/vms/" + g, "VM.Backup");
  if (storage) needed.emplace_back("/storage/" + *storage, "Datastore.AllocateSpace");
  if (storage && hc.params.contains("prune-backups"))
    needed.emplace_back("/storage/" + *storage, "Datastore.Allocate");
  if (hc.params.contains("bwlimit") || hc.params.contains("ionice"))
    needed.emplace_back("/", "Sys.Modify");
  for (const auto& [path, priv] : needed)
    if (auto e = Require(ctx, hc.caller, path, priv)) return hc.sink.Error(*e);
  std::string id = !c.all && c.guests.size() == 1 ? c.guests.front() : "";
  std::vector<std::string> notes;
  if (!c.ignored.empty())
    notes.push_back(fmt::format(
        "ignoring {} (accepted for PVE's clients, not used for containers "
        "by ctdump): {}",
        c.ignored.size() == 1 ? "parameter" : "parameters", fmt::join(c.ignored, ", ")));
  AnswerTask(hc.sink, StartTask(ctx, hc.caller, "vzdump", id, std::move(c.args), std::move(notes)));
}

void Restore(const ServerContext& ctx, const api::HandlerContext& hc) {
  const json& p = hc.params;
  const std::string vmid = p.at("vmid").get<std::string>();
  const std::string ostemplate = p.at("ostemplate").get<std::string>();
  if (!p.value("restore", false))
    return hc.sink.Error(api::NamedParamError(
        "restore", "ctdump creates containers only from backups: give restore=1"));
  if (ostemplate == "-")
    return hc.sink.Error(
        api::NamedParamError("ostemplate", "restoring from standard input is not supported"));
  auto parsed = provider::ParseVolumeId(ostemplate);
  if (!parsed.ok())
    return hc.sink.Error(api::NamedParamError("ostemplate", parsed.status().message()));
  auto type = StorageType(ctx, "ostemplate", parsed->storage);
  if (auto* e = std::get_if<api::ApiError>(&type)) return hc.sink.Error(*e);
  auto resolved = ResolveVolume(parsed->storage, std::get<std::string>(type), ostemplate);
  if (auto* e = std::get_if<api::ApiError>(&resolved))
    return hc.sink.Error(api::NamedParamError("ostemplate", e->errors["volume"]));
  const BackupVolume* volume = &std::get<BackupVolume>(resolved);
  if (auto e = Require(ctx, hc.caller, "/vms/" + vmid, "VM.Allocate")) return hc.sink.Error(*e);
  if (auto e = CheckVolumeAccess(ctx, hc.caller, *volume)) return hc.sink.Error(*e);
  struct stat st;
  if (::lstat((ctx.paths.lxcpath + "/" + vmid).c_str(), &st) == 0)
    return hc.sink.Error(api::NamedParamError(
        "vmid", fmt::format("CT {} already exists on node '{}'", vmid, ctx.node)));
  std::string volid = volume->storage + ":" + volume->volname;
  AnswerTask(hc.sink, StartTask(ctx, hc.caller, "vzrestore", vmid, MakeRestoreCommand(p, volid)));
}

// The volume of a content call: its storage exists and the volume id fits it.
std::variant<BackupVolume, api::ApiError> ContentVolume(const ServerContext& ctx,
                                                        const api::HandlerContext& hc) {
  const std::string storage = hc.params.at("storage").get<std::string>();
  auto type = StorageType(ctx, "storage", storage);
  if (auto* e = std::get_if<api::ApiError>(&type)) return *e;
  return ResolveVolume(storage, std::get<std::string>(type),
                       hc.params.at("volume").get<std::string>());
}

// PUT: the storage opened as `ctdump notes`/`protect` open it; the owner
// from its listing (as GET .../content/{volume}), else from the volname.
void UpdateContent(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto volume = ContentVolume(ctx, hc);
  if (auto* e = std::get_if<api::ApiError>(&volume)) return hc.sink.Error(*e);
  const BackupVolume& v = std::get<BackupVolume>(volume);
  auto admin = StorageAccess(ctx, hc.caller, v.storage);
  if (auto* e = std::get_if<api::ApiError>(&admin)) return hc.sink.Error(*e);
  NullObserver observer;
  auto t = backup::OpenAttributeTarget(ctx.paths.config_dir, v.storage, v.volname, &observer);
  if (!t.ok()) return hc.sink.Error(api::StatusError(t.status()));
  Provider& provider = *(*t)->provider;
  std::optional<api::ApiError> denied;
  if (!std::get<bool>(admin))
    denied = OwnerAccess(ctx, hc.caller, v.storage,
                         (*t)->entry ? std::optional((*t)->entry->vmid) : BackupOwner(v.volname));
  Status s = Status::OK();
  const json& p = hc.params;
  if (!denied && p.contains("notes")) s = provider.UpdateAttribute(v.volname, "notes", p["notes"]);
  if (!denied && s.ok() && p.contains("protected")) {
    bool on = p["protected"].get<bool>();
    if (on) s = backup::CheckMayProtect(**t);
    if (s.ok()) s = provider.UpdateAttribute(v.volname, "protected", on);
  }
  Status shutdown = provider.Shutdown();
  if (s.ok()) s = shutdown;
  if (denied) return hc.sink.Error(*denied);
  if (!s.ok()) return hc.sink.Error(api::StatusError(s));
  hc.sink.Data(nullptr);
}

void DeleteContent(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto checked = ContentVolume(ctx, hc);
  if (auto* e = std::get_if<api::ApiError>(&checked)) return hc.sink.Error(*e);
  const BackupVolume& v = std::get<BackupVolume>(checked);
  if (auto e = CheckVolumeAccess(ctx, hc.caller, v)) return hc.sink.Error(*e);
  auto owner = BackupOwner(v.volname);
  std::string id = owner ? *owner + "@" + v.storage : v.storage;
  auto upid = StartTask(ctx, hc.caller, "imgdel", id, {"delete", v.storage + ":" + v.volname});
  if (!upid.ok() || !hc.params.contains("delay")) return AnswerTask(hc.sink, upid);
  // PVE's delay: wait up to that long; a task that ended answers null, or
  // its error.
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::seconds(hc.params["delay"].get<int64_t>());
  bool running = tasks::IsRunning(*upid);
  while (running && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    running = tasks::IsRunning(*upid);
  }
  if (running) return AnswerTask(hc.sink, upid);
  auto status = tasks::ReadExitStatus(tasks::TaskDir(ctx.paths.log_dir).LogPath(*upid));
  if (!status.ok()) return hc.sink.Error(api::StatusError(status.status()));
  std::string cls = tasks::StatusClass(*status);
  if (cls == "ok" || cls == "warning") return hc.sink.Data(nullptr);
  hc.sink.Error(api::MakeError(500, *status));
}

std::vector<api::Param> ContentParams() {
  return {PathParam("node", "pve-node"), PathParam("storage", "pve-storage-id"),
          PathParam("volume")};
}

std::vector<api::Param> RestoreParams() {
  api::Param idmap{.name = "idmap",
                   .type = ParamType::kArray,
                   .description = "ctdump's: ID map entries, \"u 0 200000 65536\""};
  idmap.items = api::Items({.name = "idmap", .pattern = "[ug] \\d+ \\d+ \\d+"});
  return {
      PathParam("node", "pve-node"),
      {.name = "vmid", .required = true, .format = "ctdump-guest"},
      {.name = "ostemplate", .description = "the backup's volume id", .required = true},
      {.name = "restore", .type = ParamType::kBoolean, .description = "must be 1"},
      {.name = "storage", .description = "ignored: the root file system goes under the lxcpath"},
      {.name = "force", .type = ParamType::kBoolean},
      {.name = "unique", .type = ParamType::kBoolean},
      {.name = "start", .type = ParamType::kBoolean},
      {.name = "unprivileged", .type = ParamType::kBoolean},
      {.name = "hostname", .max_length = 255},
      {.name = "bwlimit", .type = ParamType::kNumber, .minimum = 0, .maximum = 1099511627776.0},
      {.name = "rootfs", .description = "ctdump's: the root file system directory"},
      {.name = "rootfs-storage", .description = "ctdump's: btrfs:<path>"},
      idmap,
  };
}

}  // namespace

std::optional<api::ApiError> CheckBackupAccess(const ServerContext& ctx, const api::Caller& caller,
                                               const BackupVolume& volume) {
  return CheckVolumeAccess(ctx, caller, volume);
}

std::vector<api::Route> BackupRoutes(const ServerContext& ctx) {
  using api::Method;
  std::vector<api::Route> r;
  api::Route vzdump{
      .method = Method::kPost,
      .path = "/nodes/{node}/vzdump",
      .description = "Back up containers (a vzdump task running `ctdump backup`).",
      .params = {PathParam("node", "pve-node")},
      .returns = {{"type", "string"}},
      .permission = api::Permission::Custom(
          "VM.Backup on each /vms/<ct> (all, exclude: on /vms); Datastore.AllocateSpace on "
          "/storage/<storage>, with prune-backups Datastore.Allocate; bwlimit, ionice: "
          "Sys.Modify on /"),
      .root_only = {"tmpdir", "dumpdir", "script"},
      .handler = [&ctx](const api::HandlerContext& hc) { Vzdump(ctx, hc); }};
  for (const VzdumpParam& p : VzdumpParams()) vzdump.params.push_back(p.param);
  r.push_back(std::move(vzdump));
  r.push_back({.method = Method::kPost,
               .path = "/nodes/{node}/lxc",
               .description = "Restore a backup into a new container (restore=1; a vzrestore "
                              "task running `ctdump restore`).",
               .params = RestoreParams(),
               .returns = {{"type", "string"}},
               .permission = api::Permission::Custom(
                   "VM.Allocate on /vms/{vmid}; on the backup: Datastore.Allocate on its "
                   "storage, or Datastore.AllocateSpace and VM.Backup on its container"),
               .root_only = {"force", "rootfs", "rootfs-storage"},
               .handler = [&ctx](const api::HandlerContext& hc) { Restore(ctx, hc); }});
  api::Route put{.method = Method::kPut,
                 .path = "/nodes/{node}/storage/{storage}/content/{volume*}",
                 .description = "Set a backup's notes or protection.",
                 .params = ContentParams(),
                 .permission = api::Permission::Custom(
                     "Datastore.Allocate on /storage/{storage}, or Datastore.AllocateSpace "
                     "and VM.Backup on the backup's container"),
                 .handler = [&ctx](const api::HandlerContext& hc) { UpdateContent(ctx, hc); }};
  put.params.push_back({.name = "notes", .description = "'' removes them"});
  put.params.push_back({.name = "protected", .type = ParamType::kBoolean});
  api::Route del = put;
  del.method = Method::kDelete;
  del.description = "Delete a backup (an imgdel task running `ctdump delete`).";
  del.params = ContentParams();
  del.params.push_back({.name = "delay", .type = ParamType::kInteger, .minimum = 1, .maximum = 30});
  del.returns = {{"type", "string"}, {"nullable", true}};
  del.handler = [&ctx](const api::HandlerContext& hc) { DeleteContent(ctx, hc); };
  r.push_back(std::move(put));
  r.push_back(std::move(del));
  return r;
}

}  // namespace ctdump::server
