#include "provider/external_provider.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "ctdump/version.h"
#include "userns/userns.h"

namespace ctdump::provider {
namespace {

using json = nlohmann::json;

std::optional<std::chrono::seconds> ParseSeconds(const std::string& v) {
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  long n = std::stol(v);
  if (n <= 0) return std::nullopt;
  return std::chrono::seconds(n);
}

Result<RestoreMechanism> ParseMechanism(const std::string& m) {
  if (m == "tar") return RestoreMechanism::kTar;
  if (m == "directory") return RestoreMechanism::kDirectory;
  return InvalidArgumentError(fmt::format("unknown restore mechanism '{}'", m));
}

// A loss word: 1-64 characters of [a-z0-9-].
bool IsLossWord(const std::string& w) {
  if (w.empty() || w.size() > 64) return false;
  for (char c : w)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

}  // namespace

Status ParseRestoreOffer(const json& hello, const std::string& label, RestoreOffer* out) {
  *out = RestoreOffer();
  if (hello.contains("restore-mechanisms")) {
    const json& v = hello["restore-mechanisms"];
    if (!v.is_array() || v.empty())
      return InvalidArgumentError(
          fmt::format("{}: hello's 'restore-mechanisms' must be a non-empty list of \"tar\" and "
                      "\"directory\"",
                      label));
    for (const auto& m : v) {
      auto mech = m.is_string() ? ParseMechanism(m.get<std::string>())
                                : Result<RestoreMechanism>(InvalidArgumentError("not a string"));
      if (!mech.ok())
        return InvalidArgumentError(
            fmt::format("{}: hello's 'restore-mechanisms' holds {}, not \"tar\" or \"directory\"",
                        label, m.dump()));
      if (std::find(out->mechanisms.begin(), out->mechanisms.end(), *mech) == out->mechanisms.end())
        out->mechanisms.push_back(*mech);
    }
  }
  if (hello.contains("restore-losses")) {
    const json& v = hello["restore-losses"];
    if (!v.is_object())
      return InvalidArgumentError(fmt::format(
          "{}: hello's 'restore-losses' must be an object of mechanism -> list of losses", label));
    for (const auto& [k, list] : v.items()) {
      auto mech = ParseMechanism(k);
      if (!mech.ok())
        return InvalidArgumentError(fmt::format(
            "{}: hello's 'restore-losses' names mechanism '{}', not \"tar\" or \"directory\"",
            label, k));
      std::vector<std::string> words;
      if (!list.is_array())
        return InvalidArgumentError(
            fmt::format("{}: hello's 'restore-losses' of '{}' must be a list", label, k));
      for (const auto& w : list) {
        if (!w.is_string() || !IsLossWord(w.get<std::string>()))
          return InvalidArgumentError(fmt::format(
              "{}: hello's 'restore-losses' of '{}' holds {}, not a word of a-z, 0-9 and '-'",
              label, k, w.dump()));
        words.push_back(w.get<std::string>());
      }
      out->losses.emplace_back(*mech, std::move(words));
    }
  }
  return Status::OK();
}

Result<std::unique_ptr<ExternalProvider>> ExternalProvider::Create(const Section& section,
                                                                   Observer* observer) {
  std::unique_ptr<ExternalProvider> p(new ExternalProvider());
  p->storage_id_ = section.id;
  p->observer_ = observer;
  auto cmd = section.Get("command");
  if (!cmd || cmd->empty())
    return InvalidArgumentError(fmt::format("storage '{}' has no 'command'", section.id));
  if ((*cmd)[0] != '/')
    return InvalidArgumentError(
        fmt::format("storage '{}': command \"{}\" must be an absolute path", section.id, *cmd));
  if (::access(cmd->c_str(), X_OK) != 0)
    return ErrnoError(errno,
                      fmt::format("storage '{}': provider command \"{}\"", section.id, *cmd));
  p->command_ = *cmd;
  p->storage_config_ = json::object();
  for (const auto& [k, v] : section.options) p->storage_config_[k] = v;
  if (auto t = section.Get("timeout")) {
    auto secs = ParseSeconds(*t);
    if (!secs)
      return InvalidArgumentError(fmt::format(
          "storage '{}': timeout '{}' is not a positive number of seconds", section.id, *t));
    p->options_.backup_timeout = p->options_.call_timeout = *secs;
  }
  ASSIGN_OR_RETURN(
      p->main_, p->StartInstance("main", nullptr, &p->features_, &p->provider_name_, &p->offer_));
  return p;
}

ExternalProvider::~ExternalProvider() {
  if (main_) main_->Abort();
}

Result<std::unique_ptr<ProtocolClient>> ExternalProvider::StartInstance(
    const std::string& role, const IdMap* map, std::set<std::string>* features,
    std::string* provider_name, RestoreOffer* offer) {
  sys::SpawnOptions o;
  o.argv = {command_};
  o.pipe_stdin = o.pipe_stdout = o.pipe_stderr = true;
  o.new_session = true;  // Ctrl-C reaches ctdump only; ctdump then ends the provider
  o.cwd = "/";
  std::string label = fmt::format("provider '{}' ({})", storage_id_, command_);
  Result<sys::Subprocess> proc = map ? userns::SpawnAsContainerRoot(*map, o) : sys::Spawn(o);
  if (!proc.ok()) return proc.status().WithContext(fmt::format("failed to start {}", label));
  auto client = std::make_unique<ProtocolClient>(
      role == "main" ? label : fmt::format("{} worker", label), std::move(*proc), observer_);
  json hello = {{"api-version", kProtocolVersion},
                {"ctdump-version", Version()},
                {"role", role},
                {"storage-id", storage_id_},
                {"storage-config", storage_config_}};
  ASSIGN_OR_RETURN(json r, client->Call("hello", hello, options_.call_timeout));
  if (!r.is_object() || !r.contains("api-version") || !r["api-version"].is_number_integer())
    return InvalidArgumentError(fmt::format("{} answered hello without an api-version", label));
  int64_t version = r["api-version"].get<int64_t>();
  if (version != kProtocolVersion)
    return FailedPreconditionError(
        fmt::format("{} speaks provider protocol version {}, ctdump knows only version {}", label,
                    version, kProtocolVersion));
  if (provider_name) {
    if (!r.contains("provider-name") || !r["provider-name"].is_string() ||
        r["provider-name"].get<std::string>().empty())
      return InvalidArgumentError(fmt::format("{} answered hello without a provider-name", label));
    *provider_name = r["provider-name"].get<std::string>();
  }
  if (features && r.contains("features")) {
    if (!r["features"].is_array())
      return InvalidArgumentError(fmt::format("{}: 'features' must be a list", label));
    for (const auto& f : r["features"])
      if (f.is_string()) features->insert(f.get<std::string>());
  }
  if (offer) RETURN_IF_ERROR(ParseRestoreOffer(r, label, offer));
  return client;
}

void ExternalProvider::SetObserver(Observer* observer) {
  observer_ = observer;
  if (main_) main_->set_observer(observer);
}

bool ExternalProvider::HasFeature(std::string_view feature) const {
  return features_.count(std::string(feature)) > 0;
}

Result<json> ExternalProvider::CallMain(const std::string& method, const json& params) {
  if (!main_ || !main_->alive()) {
    // The main instance died (crash, hang, garbage) while serving an earlier
    // container: start a new one so the next container is still backed up.
    // It gets hello and, inside a job, job_init again.
    observer_->Log(LogLevel::kWarn,
                   fmt::format("starting a new main instance of provider '{}'", storage_id_));
    main_.reset();
    std::set<std::string> features;
    std::string name;
    ASSIGN_OR_RETURN(main_, StartInstance("main", nullptr, &features, &name));
    if (job_start_time_) {
      auto r = main_->Call("job_init", {{"start-time", *job_start_time_}}, options_.call_timeout);
      if (!r.ok()) {
        main_.reset();  // never use an instance that missed job_init
        return r.status();
      }
    }
  }
  return main_->Call(method, params, options_.call_timeout);
}

Status ExternalProvider::JobInit(int64_t start_time) {
  RETURN_IF_ERROR(CallMain("job_init", {{"start-time", start_time}}).status());
  job_start_time_ = start_time;
  return Status::OK();
}

Status ExternalProvider::JobCleanup() { return CallMain("job_cleanup", json::object()).status(); }

Result<std::string> ExternalProvider::BackupInit(const std::string& vmid, int64_t start_time) {
  ASSIGN_OR_RETURN(
      json r,
      CallMain("backup_init", {{"vmid", vmid}, {"vmtype", "lxc"}, {"start-time", start_time}}));
  if (!r.is_object())
    return InvalidArgumentError("did not receive a valid result from the backup provider");
  if (!r.contains("archive-name") || !r["archive-name"].is_string() ||
      r["archive-name"].get<std::string>().empty())
    return InvalidArgumentError("did not receive an archive name from backup provider");
  return r["archive-name"].get<std::string>();
}

Result<std::string> ExternalProvider::BackupGetMechanism(const std::string& vmid) {
  ASSIGN_OR_RETURN(json r, CallMain("backup_get_mechanism", {{"vmid", vmid}, {"vmtype", "lxc"}}));
  if (!r.is_object() || !r.contains("mechanism") || !r["mechanism"].is_string())
    return InvalidArgumentError(fmt::format("{} did not return a mechanism", main_->label()));
  return r["mechanism"].get<std::string>();
}

Result<json> ExternalProvider::BackupContainerPrepare(const std::string& vmid,
                                                      const BackupInfo& info) {
  ASSIGN_OR_RETURN(json r,
                   CallMain("backup_container_prepare", {{"vmid", vmid}, {"info", info.ToJson()}}));
  if (r.is_null()) return json();
  if (!r.is_object())
    return InvalidArgumentError(
        fmt::format("{}: backup_container_prepare must return null or an object", main_->label()));
  return r.contains("worker-state") ? r["worker-state"] : json();
}

Status ExternalProvider::BackupContainer(const IdMap& map, const BackupContainerRequest& req) {
  ASSIGN_OR_RETURN(auto worker, StartInstance("worker", &map, nullptr, nullptr));
  worker->set_observer(observer_);
  json params = {{"vmid", req.vmid},
                 {"guest-config", req.guest_config},
                 {"exclude-patterns", req.exclude_patterns},
                 {"info", req.info.ToJson()},
                 {"worker-state", req.worker_state}};
  auto r = worker->Call("backup_container", params, options_.backup_timeout);
  if (!r.ok()) {
    worker->Abort();
    return r.status();
  }
  return worker->Shutdown(options_.call_timeout);
}

Result<std::optional<uint64_t>> ExternalProvider::BackupCleanup(const std::string& vmid,
                                                                bool vmtype_known, bool success,
                                                                const std::string& error) {
  json info = success ? json::object() : json{{"error", error}};
  ASSIGN_OR_RETURN(json r,
                   CallMain("backup_cleanup", {{"vmid", vmid},
                                               {"vmtype", vmtype_known ? json("lxc") : json()},
                                               {"success", success},
                                               {"info", info}}));
  if (r.is_object() && r.contains("stats") && r["stats"].is_object() &&
      r["stats"].contains("archive-size") && r["stats"]["archive-size"].is_number_unsigned())
    return std::optional<uint64_t>(r["stats"]["archive-size"].get<uint64_t>());
  return std::optional<uint64_t>();
}

Status ExternalProvider::BackupHandleLogFile(const std::string& vmid, const std::string& filename) {
  return CallMain("backup_handle_log_file", {{"vmid", vmid}, {"filename", filename}}).status();
}

std::vector<std::string> ExternalProvider::RestoreLosses(RestoreMechanism m) const {
  for (const auto& [mech, words] : offer_.losses)
    if (mech == m) return words;
  return {};
}

Result<RestoreMechanism> ExternalProvider::RestoreGetMechanism(const std::string& volname) {
  json params = {{"volname", volname}};
  if (requested_mechanism_) params["mechanism"] = RestoreMechanismName(*requested_mechanism_);
  ASSIGN_OR_RETURN(json r, CallMain("restore_get_mechanism", params));
  if (!r.is_object() || !r.contains("mechanism") || !r["mechanism"].is_string())
    return InvalidArgumentError(
        fmt::format("{}: restore_get_mechanism did not return a mechanism", main_->label()));
  std::string vmtype =
      r.contains("vmtype") && r["vmtype"].is_string() ? r["vmtype"].get<std::string>() : "";
  if (vmtype != "lxc")
    return InvalidArgumentError(fmt::format("cannot restore non-LXC guest of type '{}'", vmtype));
  const std::string& m = r["mechanism"].get_ref<const std::string&>();
  if (m == "tar") return RestoreMechanism::kTar;
  if (m == "directory") return RestoreMechanism::kDirectory;
  return InvalidArgumentError(
      fmt::format("mechanism '{}' requested by backup provider is not supported for LXCs", m));
}

Result<std::string> ExternalProvider::ArchiveGetGuestConfig(const std::string& volname) {
  ASSIGN_OR_RETURN(json r, CallMain("archive_get_guest_config", {{"volname", volname}}));
  if (!r.is_object() || !r.contains("config") || !r["config"].is_string())
    return InvalidArgumentError(
        fmt::format("{}: archive_get_guest_config did not return a config", main_->label()));
  return r["config"].get<std::string>();
}

Result<std::optional<std::string>> ExternalProvider::ArchiveGetFirewallConfig(
    const std::string& volname) {
  ASSIGN_OR_RETURN(json r, CallMain("archive_get_firewall_config", {{"volname", volname}}));
  if (!r.is_object() || !r.contains("config") ||
      !(r["config"].is_string() || r["config"].is_null()))
    return InvalidArgumentError(
        fmt::format("{}: archive_get_firewall_config did not return a config", main_->label()));
  if (r["config"].is_null()) return std::optional<std::string>();
  return std::optional<std::string>(r["config"].get<std::string>());
}

Result<std::string> ExternalProvider::RestoreContainerInit(const std::string& volname,
                                                           RestoreMechanism mechanism) {
  json params = {{"volname", volname}, {"info", json::object()}};
  if (requested_mechanism_) params["mechanism"] = RestoreMechanismName(*requested_mechanism_);
  ASSIGN_OR_RETURN(json r, CallMain("restore_container_init", params));
  const char* key = mechanism == RestoreMechanism::kTar ? "tar-path" : "archive-directory";
  if (!r.is_object() || !r.contains(key) || !r[key].is_string() ||
      r[key].get<std::string>().empty())
    return InvalidArgumentError(mechanism == RestoreMechanism::kTar
                                    ? "did not get path to tar file from backup provider"
                                    : "did not get path to archive directory from backup provider");
  return r[key].get<std::string>();
}

Status ExternalProvider::RestoreContainerCleanup(const std::string& volname) {
  json params = {{"volname", volname}, {"info", json::object()}};
  if (requested_mechanism_) params["mechanism"] = RestoreMechanismName(*requested_mechanism_);
  return CallMain("restore_container_cleanup", params).status();
}

Status ExternalProvider::RequireFeature(std::string_view feature, std::string_view method) const {
  if (HasFeature(feature)) return Status::OK();
  return FailedPreconditionError(
      fmt::format("provider '{}' ({}) does not implement {}", storage_id_, provider_name_, method));
}

Result<std::vector<BackupEntry>> ExternalProvider::ListBackups(
    const std::optional<std::string>& vmid) {
  RETURN_IF_ERROR(RequireFeature("list_backups", "list_backups"));
  ASSIGN_OR_RETURN(json r, CallMain("list_backups", {{"vmid", vmid ? json(*vmid) : json()}}));
  if (!r.is_array())
    return InvalidArgumentError(fmt::format("{}: list_backups must return a list", main_->label()));
  std::vector<BackupEntry> out;
  for (const auto& e : r) {
    if (!e.is_object() || !e.contains("volname") || !e["volname"].is_string() ||
        !e.contains("vmid") || !e["vmid"].is_string())
      return InvalidArgumentError(
          fmt::format("{}: malformed list_backups entry: {}", main_->label(), e.dump()));
    BackupEntry b;
    b.volname = e["volname"];
    b.vmid = e["vmid"];
    if (e.contains("vmtype") && e["vmtype"].is_string()) b.vmtype = e["vmtype"];
    if (e.contains("ctime") && e["ctime"].is_number_integer()) b.ctime = e["ctime"];
    if (e.contains("size") && e["size"].is_number_unsigned()) b.size = e["size"].get<uint64_t>();
    if (e.contains("notes") && e["notes"].is_string()) b.notes = e["notes"].get<std::string>();
    if (e.contains("protected") && e["protected"].is_boolean()) b.is_protected = e["protected"];
    out.push_back(std::move(b));
  }
  return out;
}

Status ExternalProvider::DeleteBackup(const std::string& volname) {
  RETURN_IF_ERROR(RequireFeature("delete_backup", "delete_backup"));
  return CallMain("delete_backup", {{"volname", volname}}).status();
}

Status ExternalProvider::UpdateAttribute(const std::string& volname, const std::string& name,
                                         const json& value) {
  RETURN_IF_ERROR(RequireFeature("update_attribute", "update_attribute"));
  return CallMain("update_attribute", {{"volname", volname}, {"name", name}, {"value", value}})
      .status();
}

Status ExternalProvider::Shutdown() {
  if (!main_ || !main_->alive()) {
    main_.reset();
    return Status::OK();
  }
  Status s = main_->Shutdown(options_.call_timeout);
  main_.reset();
  return s;
}

}  // namespace ctdump::provider
