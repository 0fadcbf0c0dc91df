// /cluster/backup (backup jobs: jobs.cfg's vzdump sections, PVE's
// PVE/API2/Backup.pm), /cluster/notifications/targets (PVE 8.1's
// PVE/API2/Cluster/Notifications.pm) and the extension /ctdump/jobs
// (docs/design/api-server.md §5.3, §5.4; pve-api-facts.md §5).
//
// jobs.cfg is read on every call and written with jobs/job_config_edit.h
// (comments and other sections kept byte for byte) under flock on
// <run-dir>/jobs.cfg.lock, atomically (rename). The scheduler reads it every
// minute, so nothing is signalled.
//
// Permissions: Sys.Audit on / to read jobs; Sys.Modify on / to change them
// (the route), and Datastore.Allocate on /storage/<storage> when the job names
// a storage (here). Targets: Sys.Audit on / or Mapping.Audit on
// /mapping/notifications; a test send: Sys.Modify on / or Mapping.Use there
// (PVE 8.1 allows Mapping.Audit, Use or Modify for the test; ctdump asks for
// Use, as the design does).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "api/format.h"
#include "jobs/job_config.h"
#include "jobs/job_config_edit.h"
#include "jobs/job_list.h"
#include "jobs/job_state.h"
#include "notify/notify.h"
#include "server/route_parts.h"
#include "server/routes.h"
#include "server/routes_backup.h"
#include "sys/file.h"
#include "sys/lock_file.h"

namespace ctdump::server {
namespace {

using api::ParamType;
using nlohmann::json;

constexpr size_t kMaxJobsCfg = 1u << 20;
constexpr auto kLockWait = std::chrono::seconds(10);

std::string JobsPath(const ServerContext& ctx) { return ctx.paths.config_dir + "/jobs.cfg"; }

// jobs.cfg's text; a missing file is empty.
Result<std::string> ReadJobsText(const ServerContext& ctx) {
  auto text = sys::ReadRegularFile(JobsPath(ctx), kMaxJobsCfg);
  if (!text.ok() && text.status().code() == Code::kNotFound) return std::string();
  return text;
}

bool Allowed(const ServerContext& ctx, const api::Caller& caller, const std::string& path,
             std::string_view priv) {
  return ctx.allowed && ctx.allowed(caller, path, priv);
}

api::ApiError NoSuchJob(const std::string& id) {
  return api::NamedParamError("id", fmt::format("No such job '{}'", id));
}

// The job parameters besides the vzdump ones (PVE's Backup.pm).
std::vector<api::Param> JobOwnParams(bool create) {
  return {
      {.name = "schedule",
       .description = "a calendar event (systemd-like, proxmox-time)",
       .required = create,
       .max_length = 128},
      {.name = "enabled", .type = ParamType::kBoolean, .default_value = true},
      {.name = "repeat-missed", .type = ParamType::kBoolean, .default_value = false},
      {.name = "comment", .max_length = 512},
  };
}

const std::vector<api::Param>& JobParams() {
  static const std::vector<api::Param> params = [] {
    std::vector<api::Param> p = JobOwnParams(false);
    for (api::Param& v : VzdumpJobParams()) p.push_back(std::move(v));
    return p;
  }();
  return params;
}

const api::Param* FindParam(std::string_view name) {
  for (const api::Param& p : JobParams())
    if (p.name == name) return &p;
  return nullptr;
}

// A word of exclude-path's value, quoted for SplitShellWords when needed.
std::string ShellWord(const std::string& w) {
  bool plain = !w.empty() && w.find_first_of(" \t'\"\\$`") == std::string::npos;
  if (plain) return w;
  std::string out = "'";
  for (char c : w) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A checked parameter's value as jobs.cfg writes it (booleans 0/1).
std::string ValueText(const std::string& name, const json& v) {
  if (name == "exclude-path") {
    std::string out;
    for (const json& item : v.is_array() ? v : json::array({v}))
      out += (out.empty() ? "" : " ") + ShellWord(item.get<std::string>());
    return out;
  }
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  return v.dump();
}

// A property string "a=1,b=2" as PVE returns it: {"a":"1","b":"2"}.
json PropertyObject(const std::string& text) {
  json o = json::object();
  for (std::string_view part : api::SplitList(text)) {
    size_t eq = part.find('=');
    if (eq == std::string_view::npos)
      o[std::string(part)] = "1";
    else
      o[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  return o;
}

// A vzdump section as PVE's GET /cluster/backup[/{id}] answers it: values
// typed by the parameter schema, prune-backups as an object.
json PveJobJson(const jobs::JobConfig& job) {
  json j = json::object();
  for (const auto& [key, value] : job.options) {
    const api::Param* p = FindParam(key);
    if (key == "prune-backups") {
      j[key] = PropertyObject(value);
    } else if (p && p->type == ParamType::kBoolean) {
      auto b = ParsePveBool(value);
      j[key] = b ? (*b ? 1 : 0) : 0;
    } else if (p && p->type == ParamType::kInteger && !value.empty() &&
               value.find_first_not_of("0123456789") == std::string::npos) {
      j[key] = std::stoull(value);
    } else {
      j[key] = value;
    }
  }
  j["id"] = job.id;
  j["type"] = "vzdump";
  j["enabled"] = job.enabled ? 1 : 0;
  if (job.schedule) j["schedule"] = job.schedule->text();
  return j;
}

// PVE's generated id: backup-<8 hex>-<4 hex>.
std::string NewJobId() {
  std::random_device rd;
  return fmt::format("backup-{:08x}-{:04x}", rd(), rd() & 0xffff);
}

// PVE's checks of the container selection on the job's final options.
api::ParamErrors SelectionErrors(const Section& s) {
  api::ParamErrors e;
  bool vmid = s.Get("vmid").has_value();
  bool all = s.Get("all") == "1" || s.Get("exclude").has_value();
  if (vmid && s.Get("all") == "1") e["all"] = "option conflicts with option 'vmid'";
  if (vmid && s.Get("exclude")) e["exclude"] = "option conflicts with option 'vmid'";
  if (!vmid && !all) e["vmid"] = "property is missing and it is not optional";
  if (s.Get("storage") && s.Get("dumpdir")) e["dumpdir"] = "option conflicts with option 'storage'";
  return e;
}

void Set(Section* s, const std::string& key, const std::string& value) {
  for (auto& [k, v] : s->options)
    if (k == key) {
      v = value;
      return;
    }
  s->options.emplace_back(key, value);
}

void Unset(Section* s, std::string_view key) {
  std::erase_if(s->options, [&](const auto& kv) { return kv.first == key; });
}

// The job parameters given in `params` (not id, delete, node), in the
// table's order.
std::vector<std::pair<std::string, std::string>> GivenValues(const json& params) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const api::Param& p : JobParams())
    if (params.contains(p.name)) out.emplace_back(p.name, ValueText(p.name, params[p.name]));
  return out;
}

// Reads jobs.cfg, edits it with `edit` and writes the result, under the lock.
// `edit` answers the new text or an error (already as an ApiError).
template <typename Edit>
void EditJobs(const ServerContext& ctx, api::ResponseSink& sink, Edit edit) {
  Status dirs = sys::MakeDirs(ctx.paths.run_dir, 0755);
  if (!dirs.ok()) return sink.Error(api::StatusError(dirs));
  auto lock = sys::LockFile::Acquire(
      ctx.paths.run_dir + "/jobs.cfg.lock",
      std::chrono::duration_cast<std::chrono::milliseconds>(kLockWait), [](const std::string&) {});
  if (!lock.ok()) return sink.Error(api::StatusError(lock.status()));
  auto text = ReadJobsText(ctx);
  if (!text.ok()) return sink.Error(api::StatusError(text.status()));
  std::variant<std::string, api::ApiError> edited = edit(*text);
  if (auto* e = std::get_if<api::ApiError>(&edited)) return sink.Error(*e);
  Status w = sys::WriteFileAtomic(JobsPath(ctx), std::get<std::string>(edited), 0644);
  if (!w.ok()) return sink.Error(api::StatusError(w));
  sink.Data(nullptr);
}

// An edit's error as the API answers it.
api::ApiError EditError(const Status& s, const jobs::KeyErrors& key_errors, const std::string& id) {
  if (s.code() == Code::kNotFound) return NoSuchJob(id);
  if (s.code() == Code::kAlreadyExists) return api::NamedParamError("id", s.message());
  if (!key_errors.empty()) return api::ParamError(key_errors);
  return api::StatusError(s);
}

std::optional<api::ApiError> CheckStorage(const ServerContext& ctx, const api::Caller& caller,
                                          const Section& s) {
  auto storage = s.Get("storage");
  if (!storage) return std::nullopt;
  std::string path = "/storage/" + *storage;
  if (!Allowed(ctx, caller, path, "Datastore.Allocate"))
    return api::PermissionError(path, "Datastore.Allocate");
  return std::nullopt;
}

void ListBackupJobs(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto cfg = jobs::LoadJobsConfig(ctx.paths.config_dir);
  if (!cfg.ok()) return hc.sink.Error(api::StatusError(cfg.status()));
  const int64_t now = ::time(nullptr);
  json data = json::array();
  for (const jobs::JobConfig& job : cfg->jobs) {
    if (job.type != jobs::JobType::kVzdump) continue;
    json j = PveJobJson(job);
    auto listed = jobs::DescribeJob(ctx.paths.state_dir, ctx.paths.run_dir, job, now, nullptr);
    if (listed.next_run) j["next-run"] = *listed.next_run;
    data.push_back(std::move(j));
  }
  hc.sink.Data(data);
}

void GetBackupJob(const ServerContext& ctx, const api::HandlerContext& hc) {
  const std::string id = hc.params.at("id").get<std::string>();
  auto cfg = jobs::LoadJobsConfig(ctx.paths.config_dir);
  if (!cfg.ok()) return hc.sink.Error(api::StatusError(cfg.status()));
  const jobs::JobConfig* job = cfg->Find(id);
  if (!job || job->type != jobs::JobType::kVzdump) return hc.sink.Error(NoSuchJob(id));
  hc.sink.Data(PveJobJson(*job));
}

void CreateBackupJob(const ServerContext& ctx, const api::HandlerContext& hc) {
  Section s{"vzdump", hc.params.value("id", NewJobId()), GivenValues(hc.params)};
  if (auto e = SelectionErrors(s); !e.empty()) return hc.sink.Error(api::ParamError(e));
  if (auto e = CheckStorage(ctx, hc.caller, s)) return hc.sink.Error(*e);
  EditJobs(ctx, hc.sink, [&](const std::string& text) -> std::variant<std::string, api::ApiError> {
    jobs::KeyErrors key_errors;
    auto r = jobs::AddJobSection(text, JobsPath(ctx), s, &key_errors);
    if (!r.ok()) return EditError(r.status(), key_errors, s.id);
    return *r;
  });
}

void UpdateBackupJob(const ServerContext& ctx, const api::HandlerContext& hc) {
  const std::string id = hc.params.at("id").get<std::string>();
  std::vector<std::string> deleted;
  api::ParamErrors errors;
  const std::string delete_list = hc.params.value("delete", "");
  for (std::string_view k : api::SplitList(delete_list)) {
    std::string key(k);
    if (!FindParam(key))
      errors["delete"] = fmt::format("unknown option '{}'", key);
    else if (hc.params.contains(key))
      errors["delete"] = fmt::format("cannot set and delete property '{}' at the same time", key);
    deleted.push_back(key);
  }
  if (!errors.empty()) return hc.sink.Error(api::ParamError(errors));
  EditJobs(ctx, hc.sink, [&](const std::string& text) -> std::variant<std::string, api::ApiError> {
    auto current = jobs::FindJobSection(text, JobsPath(ctx), id);
    if (!current || current->type != "vzdump") return NoSuchJob(id);
    Section s = *current;
    for (const std::string& k : deleted) Unset(&s, k);
    // PVE: a vmid replaces all/exclude, and all/exclude replace vmid.
    if (hc.params.contains("vmid")) {
      Unset(&s, "all");
      Unset(&s, "exclude");
    }
    if (hc.params.contains("all") || hc.params.contains("exclude")) Unset(&s, "vmid");
    for (const auto& [k, v] : GivenValues(hc.params)) Set(&s, k, v);
    if (auto e = SelectionErrors(s); !e.empty()) return api::ParamError(e);
    if (auto e = CheckStorage(ctx, hc.caller, s)) return *e;
    jobs::KeyErrors key_errors;
    auto r = jobs::ReplaceJobSection(text, JobsPath(ctx), s, &key_errors);
    if (!r.ok()) return EditError(r.status(), key_errors, id);
    return *r;
  });
}

void DeleteBackupJob(const ServerContext& ctx, const api::HandlerContext& hc) {
  const std::string id = hc.params.at("id").get<std::string>();
  EditJobs(ctx, hc.sink, [&](const std::string& text) -> std::variant<std::string, api::ApiError> {
    auto current = jobs::FindJobSection(text, JobsPath(ctx), id);
    if (current && current->type == "vzdump")
      if (auto e = CheckStorage(ctx, hc.caller, *current)) return *e;
    auto r = jobs::RemoveJobSection(text, JobsPath(ctx), "vzdump", id);
    if (!r.ok()) return EditError(r.status(), {}, id);
    // A later job with the same id starts without this one's state.
    std::string state = jobs::JobStatePath(ctx.paths.state_dir, "vzdump-" + id);
    ::unlink(state.c_str());
    return *r;
  });
}

void ListAllJobs(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto cfg = jobs::LoadJobsConfig(ctx.paths.config_dir);
  if (!cfg.ok()) return hc.sink.Error(api::StatusError(cfg.status()));
  const int64_t now = ::time(nullptr);
  json data = json::array();
  for (const jobs::JobConfig& job : cfg->jobs)
    data.push_back(jobs::JobJson(
        jobs::DescribeJob(ctx.paths.state_dir, ctx.paths.run_dir, job, now, nullptr)));
  hc.sink.Data(data);
}

void ListTargets(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto config = notify::LoadConfig(ctx.paths.config_dir);
  if (!config.ok()) return hc.sink.Error(api::StatusError(config.status()));
  const bool builtin = config->source == "built-in default";
  json data = json::array();
  for (const notify::Target& t : config->targets) {
    json j = {{"name", t.name},
              {"type", std::string(notify::TargetTypeName(t.type))},
              {"disable", t.disable ? 1 : 0}};
    if (!t.comment.empty()) j["comment"] = t.comment;
    j["origin"] = builtin                    ? "builtin"
                  : t.name == "mail-to-root" ? "modified-builtin"
                                             : "user-created";
    data.push_back(std::move(j));
  }
  hc.sink.Data(data);
}

void TestTarget(const ServerContext& ctx, const api::HandlerContext& hc) {
  const std::string name = hc.params.at("name").get<std::string>();
  auto config = notify::LoadConfig(ctx.paths.config_dir);
  if (!config.ok()) return hc.sink.Error(api::StatusError(config.status()));
  Status s = notify::SendTest(*config, name, nullptr);
  if (s.code() == Code::kNotFound) return hc.sink.Error(api::NamedParamError("name", s.message()));
  if (!s.ok()) return hc.sink.Error(api::MakeError(500, s.message() + "\n"));
  hc.sink.Data(nullptr);
}

api::Param IdParam() {
  return {.name = "id", .description = "the job's id", .required = true, .max_length = 255};
}

api::Permission Privs(std::vector<api::PrivCheck> any_of, std::string note = {}) {
  api::Permission p = api::Permission::Privs(std::move(any_of));
  p.rule = std::move(note);
  return p;
}

}  // namespace

std::vector<api::Route> JobRoutes(const ServerContext& ctx) {
  using api::Method;
  std::vector<api::Route> r;
  const api::Permission audit = Privs({{"/", {"Sys.Audit"}}});
  const api::Permission modify =
      Privs({{"/", {"Sys.Modify"}}}, "and Datastore.Allocate on /storage/<storage> of the job");
  const json job_schema = {{"type", "object"}};
  r.push_back(IndexRoute("/cluster"));
  r.push_back(IndexRoute("/cluster/notifications"));
  r.push_back(IndexRoute("/ctdump"));
  r.push_back({.method = Method::kGet,
               .path = "/cluster/backup",
               .description = "Backup jobs (jobs.cfg's vzdump sections) with their next run.",
               .returns = {{"type", "array"}, {"items", job_schema}},
               .permission = audit,
               .handler = [&ctx](const api::HandlerContext& hc) { ListBackupJobs(ctx, hc); }});
  api::Route create{
      .method = Method::kPost,
      .path = "/cluster/backup",
      .description = "Create a backup job (id backup-<8 hex>-<4 hex> when not given).",
      .params = {{.name = "id", .format = "pve-configid", .max_length = 50}},
      .permission = modify,
      .root_only = {"tmpdir", "dumpdir", "script"},
      .handler = [&ctx](const api::HandlerContext& hc) { CreateBackupJob(ctx, hc); }};
  for (api::Param& p : JobOwnParams(true)) create.params.push_back(std::move(p));
  for (api::Param& p : VzdumpJobParams()) create.params.push_back(std::move(p));
  r.push_back(std::move(create));
  r.push_back({.method = Method::kGet,
               .path = "/cluster/backup/{id}",
               .description = "A backup job (without next-run, as PVE).",
               .params = {IdParam()},
               .returns = job_schema,
               .permission = audit,
               .handler = [&ctx](const api::HandlerContext& hc) { GetBackupJob(ctx, hc); }});
  api::Route update{.method = Method::kPut,
                    .path = "/cluster/backup/{id}",
                    .description =
                        "Change a backup job; `delete` removes keys; vmid replaces all/exclude and "
                        "all/exclude replace vmid.",
                    .params = {IdParam(),
                               {.name = "delete",
                                .description = "keys to remove (a list: a,b)",
                                .max_length = 4096}},
                    .permission = modify,
                    .root_only = {"tmpdir", "dumpdir", "script"},
                    .handler = [&ctx](const api::HandlerContext& hc) { UpdateBackupJob(ctx, hc); }};
  for (const api::Param& p : JobParams()) update.params.push_back(p);
  r.push_back(std::move(update));
  r.push_back({.method = Method::kDelete,
               .path = "/cluster/backup/{id}",
               .description = "Remove a backup job (and its state).",
               .params = {IdParam()},
               .permission = modify,
               .handler = [&ctx](const api::HandlerContext& hc) { DeleteBackupJob(ctx, hc); }});
  r.push_back({.method = Method::kGet,
               .path = "/ctdump/jobs",
               .description = "Every job of jobs.cfg (vzdump, verify, gc, compact, sync, "
                              "restore-test) with its next and last run, as `ctdump job list`.",
               .returns = {{"type", "array"}, {"items", job_schema}},
               .permission = audit,
               .handler = [&ctx](const api::HandlerContext& hc) { ListAllJobs(ctx, hc); }});
  r.push_back(
      {.method = Method::kGet,
       .path = "/cluster/notifications/targets",
       .description = "Notification targets (name, type, comment, disable, origin; no "
                      "secrets).",
       .returns = {{"type", "array"}, {"items", job_schema}},
       .permission = Privs({{"/", {"Sys.Audit"}}, {"/mapping/notifications", {"Mapping.Audit"}}}),
       .handler = [&ctx](const api::HandlerContext& hc) { ListTargets(ctx, hc); }});
  r.push_back(
      {.method = Method::kPost,
       .path = "/cluster/notifications/targets/{name}/test",
       .description = "Send a test notification to a target (with notify's retries).",
       .params = {{.name = "name", .required = true, .format = "pve-configid"}},
       .permission = Privs({{"/", {"Sys.Modify"}}, {"/mapping/notifications", {"Mapping.Use"}}}),
       .handler = [&ctx](const api::HandlerContext& hc) { TestTarget(ctx, hc); }});
  return r;
}

}  // namespace ctdump::server
