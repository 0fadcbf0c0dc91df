// /nodes/{node}/tasks...: the task list, a task's index, status and log, and
// its abort (docs/design/api-server.md §3, pve-api-facts.md §4), read from
// the task directory (tasks/task_dir.h) on every call: nothing is kept in
// memory.
//
// Who sees a task: its owner (the user or token it ran for; a user owns its
// tokens' tasks, a token only its own), or whoever holds Sys.Audit on
// /nodes/<node> (Sys.Modify to abort it). The ACL path names this node even
// when the request says `localhost`.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "api/format.h"
#include "server/route_parts.h"
#include "server/routes.h"
#include "sys/unique_fd.h"
#include "tasks/task_dir.h"
#include "tasks/task_log.h"
#include "tasks/task_status.h"
#include "tasks/upid.h"

namespace ctdump::server {
namespace {

using nlohmann::json;

// "user@realm" or "user@realm!token".
std::string FullId(const api::Caller& caller) {
  return caller.tokenid.empty() ? caller.userid : caller.userid + "!" + caller.tokenid;
}

// Whether `caller` owns a task that ran for `task_user`.
bool Owns(const api::Caller& caller, std::string_view task_user) {
  if (task_user == FullId(caller)) return true;
  if (!caller.tokenid.empty()) return false;
  return task_user.size() > caller.userid.size() && task_user.starts_with(caller.userid) &&
         task_user[caller.userid.size()] == '!';
}

bool Allowed(const ServerContext& ctx, const api::Caller& caller, const std::string& path,
             std::string_view priv) {
  return ctx.allowed && ctx.allowed(caller, path, priv);
}

std::string NodePath(const ServerContext& ctx) { return "/nodes/" + ctx.node; }

// The UPID's fields as PVE lists them; a token user is split into `user`
// and `tokenid`.
json TaskJson(const tasks::Upid& u) {
  json j = {{"upid", tasks::EncodeUpid(u)}, {"node", u.node}, {"pid", u.pid}, {"pstart", u.pstart},
            {"starttime", u.starttime},     {"type", u.type}, {"id", u.id},   {"user", u.user}};
  if (size_t bang = u.user.find('!'); bang != std::string::npos) {
    j["user"] = u.user.substr(0, bang);
    j["tokenid"] = u.user.substr(bang + 1);
  }
  return j;
}

struct FoundTask {
  tasks::Upid upid;
  std::string log_path;
};

// The task named by the `upid` parameter, if it is one of this node's and
// the caller may `priv` it (as its owner or by the privilege on the node).
// Errors as PVE: 400 {"upid": "unable to parse worker upid"} or "no such
// task" (also for another node's UPID); 403 for the privilege.
std::variant<FoundTask, api::ApiError> FindTask(const ServerContext& ctx,
                                                const api::HandlerContext& hc,
                                                std::string_view priv) {
  auto upid = tasks::DecodeUpid(hc.params.at("upid").get<std::string>());
  if (!upid.ok()) return api::NamedParamError("upid", "unable to parse worker upid");
  tasks::TaskDir dir(ctx.paths.log_dir);
  FoundTask t{*upid, dir.LogPath(*upid)};
  if (upid->node != ctx.node || ::access(t.log_path.c_str(), F_OK) != 0)
    return api::NamedParamError("upid", "no such task");
  if (!Owns(hc.caller, upid->user) && !Allowed(ctx, hc.caller, NodePath(ctx), priv))
    return api::PermissionError(NodePath(ctx), priv);
  return t;
}

void ListTasks(const ServerContext& ctx, const api::HandlerContext& hc) {
  const json& p = hc.params;
  tasks::TaskFilter f;
  uint64_t start = p.value("start", uint64_t{0});
  uint64_t limit = p.value("limit", uint64_t{50});
  f.userfilter = p.value("userfilter", "");
  f.typefilter = p.value("typefilter", "");
  f.vmid = p.value("vmid", "");
  f.errors = p.value("errors", false);
  std::string source = p.value("source", "archive");
  f.source = source == "active" ? tasks::TaskFilter::Source::kActive
             : source == "all"  ? tasks::TaskFilter::Source::kAll
                                : tasks::TaskFilter::Source::kArchive;
  if (p.contains("since")) f.since = p["since"].get<int64_t>();
  if (p.contains("until")) f.until = p["until"].get<int64_t>();
  if (p.contains("statusfilter")) {
    // The text outlives the views SplitList returns into it.
    const std::string text = p["statusfilter"].get<std::string>();
    for (std::string_view s : api::SplitList(text)) f.statusfilter.emplace_back(s);
  }
  // Everything that matches, then the caller's share, then the window: the
  // total counts only what the caller may see.
  f.start = 0;
  f.limit = UINT64_MAX;
  auto list = tasks::TaskDir(ctx.paths.log_dir).List(f);
  if (!list.ok()) return hc.sink.Error(api::StatusError(list.status()));
  const bool auditor = Allowed(ctx, hc.caller, NodePath(ctx), "Sys.Audit");
  json data = json::array();
  int64_t total = 0;
  for (const tasks::TaskEntry& e : list->entries) {
    if (!auditor && !Owns(hc.caller, e.upid.user)) continue;
    const uint64_t n = static_cast<uint64_t>(total++);
    if (n < start || n - start >= limit) continue;
    json j = TaskJson(e.upid);
    if (e.endtime) j["endtime"] = *e.endtime;
    j["status"] = e.status;
    data.push_back(std::move(j));
  }
  hc.sink.Data(data, total);
}

void TaskIndex(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto t = FindTask(ctx, hc, "Sys.Audit");
  if (auto* e = std::get_if<api::ApiError>(&t)) return hc.sink.Error(*e);
  hc.sink.Data(json::array({{{"name", "log"}}, {{"name", "status"}}}));
}

void TaskStatus(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto t = FindTask(ctx, hc, "Sys.Audit");
  if (auto* e = std::get_if<api::ApiError>(&t)) return hc.sink.Error(*e);
  const FoundTask& task = std::get<FoundTask>(t);
  auto state = tasks::GetTaskState(task.upid, task.log_path);
  if (!state.ok()) return hc.sink.Error(api::NamedParamError("upid", "no such task"));
  json j = TaskJson(task.upid);
  j["status"] = state->running ? "running" : "stopped";
  if (!state->running) j["exitstatus"] = state->exitstatus;
  hc.sink.Data(j);
}

// download=1: the file as text/plain, streamed in pieces.
void DownloadLog(const FoundTask& task, api::ResponseSink& sink) {
  sys::UniqueFd fd(::open(task.log_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return sink.Error(api::NamedParamError("upid", "no such task"));
  api::StreamHead head;
  head.content_type = "text/plain";
  head.headers.emplace_back("Content-Disposition",
                            "attachment; filename=\"task-" + task.upid.node + "-" + task.upid.type +
                                "-" + std::to_string(task.upid.starttime) + ".log\"");
  if (!sink.BeginStream(std::move(head))) return;
  std::string buf(64 * 1024, '\0');
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sink.EndStream(ErrnoError(errno, "Failed to read \"" + task.log_path + "\""));
    if (n == 0) return sink.EndStream(Status::OK());
    if (!sink.Write(std::string_view(buf.data(), static_cast<size_t>(n))))
      return sink.EndStream(CancelledError("the client went away"));
  }
}

void TaskLog(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto t = FindTask(ctx, hc, "Sys.Audit");
  if (auto* e = std::get_if<api::ApiError>(&t)) return hc.sink.Error(*e);
  const FoundTask& task = std::get<FoundTask>(t);
  if (hc.params.value("download", false)) return DownloadLog(task, hc.sink);
  auto page = tasks::ReadTaskLog(task.log_path, hc.params.value("start", uint64_t{0}),
                                 hc.params.value("limit", tasks::kDefaultLogLimit));
  if (!page.ok()) return hc.sink.Error(api::NamedParamError("upid", "no such task"));
  json lines = json::array();
  for (const tasks::LogLine& l : page->lines) lines.push_back({{"n", l.n}, {"t", l.t}});
  hc.sink.Data(lines, static_cast<int64_t>(page->total));
}

void AbortTask(const ServerContext& ctx, const api::HandlerContext& hc) {
  auto t = FindTask(ctx, hc, "Sys.Modify");
  if (auto* e = std::get_if<api::ApiError>(&t)) return hc.sink.Error(*e);
  auto r = tasks::AbortTask(std::get<FoundTask>(t).upid);
  if (!r.ok()) return hc.sink.Error(api::StatusError(r.status()));
  hc.sink.Data(nullptr);
}

api::Param UpidParam() {
  api::Param p = PathParam("upid");
  // No length limit here: DecodeUpid refuses a long one with PVE's message.
  p.description = "the task's UPID";
  return p;
}

api::Permission OwnerOrNode(std::string priv) {
  api::Permission p = api::Permission::OwnerOr({{"/nodes/{node}", {std::move(priv)}}});
  p.rule = "the task's user, or that user for one of its tokens' tasks";
  return p;
}

}  // namespace

std::vector<api::Route> TaskRoutes(const ServerContext& ctx) {
  using api::Method;
  using api::ParamType;
  const api::Param node = PathParam("node", "pve-node");
  std::vector<api::Route> r;
  json task_schema = {{"type", "object"}};
  r.push_back(
      {.method = Method::kGet,
       .path = "/nodes/{node}/tasks",
       .description = "Tasks of this node, newest first (running ones first).",
       .params =
           {node,
            {.name = "start", .type = ParamType::kInteger, .default_value = 0, .minimum = 0},
            {.name = "limit", .type = ParamType::kInteger, .default_value = 50, .minimum = 0},
            {.name = "userfilter", .description = "part of the user (case-insensitive)"},
            {.name = "typefilter", .description = "only this type (vzdump, vzrestore, imgdel)"},
            {.name = "vmid", .description = "only tasks of this container", .max_length = 255},
            {.name = "errors", .type = ParamType::kBoolean, .default_value = false},
            {.name = "source",
             .default_value = "archive",
             .enum_values = {"archive", "active", "all"}},
            {.name = "since", .type = ParamType::kInteger, .description = "epoch"},
            {.name = "until", .type = ParamType::kInteger, .description = "epoch"},
            {.name = "statusfilter",
             .description = "list of ok, warning, error, unknown",
             .pattern = "[a-z, ;]*"}},
       .returns = {{"type", "array"}, {"items", task_schema}},
       .permission = api::Permission::Authenticated(
           "own tasks (a user's includes its tokens'); all with Sys.Audit on /nodes/{node}"),
       .handler = [&ctx](const api::HandlerContext& hc) { ListTasks(ctx, hc); }});
  r.push_back({.method = Method::kGet,
               .path = "/nodes/{node}/tasks/{upid}",
               .description = "A task's index.",
               .params = {node, UpidParam()},
               .returns = {{"type", "array"}},
               .permission = OwnerOrNode("Sys.Audit"),
               .handler = [&ctx](const api::HandlerContext& hc) { TaskIndex(ctx, hc); }});
  r.push_back({.method = Method::kGet,
               .path = "/nodes/{node}/tasks/{upid}/status",
               .description = "A task's status: running or stopped with its exit status.",
               .params = {node, UpidParam()},
               .returns = task_schema,
               .permission = OwnerOrNode("Sys.Audit"),
               .handler = [&ctx](const api::HandlerContext& hc) { TaskStatus(ctx, hc); }});
  r.push_back(
      {.method = Method::kGet,
       .path = "/nodes/{node}/tasks/{upid}/log",
       .description = "A task's log as numbered lines, or the file with download=1.",
       .params = {node,
                  UpidParam(),
                  {.name = "start", .type = ParamType::kInteger, .default_value = 0, .minimum = 0},
                  {.name = "limit",
                   .type = ParamType::kInteger,
                   .description = "0: all",
                   .default_value = 50,
                   .minimum = 0},
                  {.name = "download", .type = ParamType::kBoolean, .default_value = false}},
       .returns = {{"type", "array"}},
       .permission = OwnerOrNode("Sys.Audit"),
       .handler = [&ctx](const api::HandlerContext& hc) { TaskLog(ctx, hc); }});
  r.push_back({.method = Method::kDelete,
               .path = "/nodes/{node}/tasks/{upid}",
               .description = "Stop a running task (SIGTERM to its process group).",
               .params = {node, UpidParam()},
               .permission = OwnerOrNode("Sys.Modify"),
               .handler = [&ctx](const api::HandlerContext& hc) { AbortTask(ctx, hc); }});
  return r;
}

}  // namespace ctdump::server
