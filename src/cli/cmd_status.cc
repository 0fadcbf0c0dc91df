// `ctdump status [--max-age DURATION] [--storage ID] [--exclude a,b] [vmid...]`: every
// container (under lxcpath, or with a recent recorded last job) with its newest
// backup per storage, its age and size, and its last job's result, as a
// monitoring check (backup/status_check.h): the first line is Nagios
// plugin output ("CTDUMP OK - ..."), the exit code 0 ok, 1 warning,
// 2 critical, 3 unknown (the check itself could not run: a bad --max-age,
// storage.cfg unreadable). --output-format json: a result event whose "data"
// is the report (docs/json-events.md).
// A container not under lxcpath is checked while its record is younger than
// max-age (backup/status_check.h); `ctdump status --forget <vmid>` removes
// its record at once (and checks nothing).
#include <fmt/format.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "backup/guest_state.h"
#include "backup/job_options.h"
#include "backup/status_check.h"
#include "backup/task_log.h"
#include "cli/commands.h"
#include "ctdump/units.h"
#include "registry/registry.h"

namespace ctdump::cli {
namespace {

using backup::CheckState;
using backup::NewestBackup;
using json = nlohmann::json;

constexpr int kExitUnknown = 3;  // Nagios: the check could not be made

struct StatusArgs {
  std::string max_age;
  std::string storage;
  std::vector<std::string> vmids;
  std::vector<std::string> exclude;
  std::vector<std::string> forget;
};

std::string UtcTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  if (!::gmtime_r(&tt, &tm)) return std::to_string(t);
  char buf[32];
  ::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// JSON: the result event, "data" the state as a check that ran.
int Unknown(const Context& ctx, Renderer& out, const std::string& why) {
  if (ctx.json())
    out.OnResult(false, kExitUnknown,
                 {{"state", "UNKNOWN"}, {"exit", kExitUnknown}, {"summary", why}});
  else
    fmt::print("CTDUMP UNKNOWN - {}\n", backup::EscapeControl(why));
  return kExitUnknown;
}

// Each storage's newest backup per container, into `in`.
void ListStorage(const std::vector<Section>& storages, const std::string& id, Observer* observer,
                 backup::StatusInput* in) {
  auto p = registry::OpenStorage(storages, id, observer);
  if (!p.ok()) {
    in->unreadable_storages[id] = p.status().message();
    return;
  }
  auto list = (*p)->ListBackups(std::nullopt);
  Status sh = (*p)->Shutdown();
  if (!sh.ok()) observer->Log(LogLevel::kWarn, sh.message());
  if (!list.ok()) {
    in->unreadable_storages[id] = list.status().message();
    return;
  }
  in->storages.push_back(id);
  std::map<std::string, const BackupEntry*> newest;
  for (const auto& b : *list) {
    auto& n = newest[b.vmid];
    if (!n || b.ctime > n->ctime) n = &b;
  }
  for (const auto& [vmid, b] : newest)
    in->backups[vmid].push_back(NewestBackup{id, b->volname, b->ctime, b->size});
}

json BackupJson(const NewestBackup& b, int64_t now) {
  return {{"storage", b.storage},
          {"volid", b.storage + ":" + b.volname},
          {"ctime", b.ctime},
          {"age", now - b.ctime},
          {"size", b.size ? json(*b.size) : json()}};
}

json ReportJson(const backup::StatusReport& r, const backup::StatusInput& in) {
  json containers = json::array();
  for (const auto& c : r.containers) {
    json backups = json::array();
    for (const auto& b : c.backups) backups.push_back(BackupJson(b, in.now));
    json last;
    if (c.last_job) {
      const auto& j = *c.last_job;
      last = {{"time", j.time},
              {"storage", j.storage},
              {"job-id", j.job_id},
              {"result", backup::GuestOutcomeName(j.result)},
              {"message", j.message},
              {"archive", j.archive},
              {"size", j.size ? json(*j.size) : json()},
              {"seconds", j.seconds},
              {"warnings", j.warnings}};
      if (!j.dumpdir.empty()) last["dumpdir"] = j.dumpdir;
    }
    containers.push_back({{"vmid", c.vmid},
                          {"state", backup::CheckStateName(c.state)},
                          {"configured", c.configured},
                          {"reasons", c.reasons},
                          {"newest", c.newest ? BackupJson(*c.newest, in.now) : json()},
                          {"backups", backups},
                          {"last-job", last}});
  }
  json storages = json::array();
  for (const auto& id : in.storages) storages.push_back({{"id", id}, {"ok", true}});
  for (const auto& [id, why] : in.unreadable_storages)
    storages.push_back({{"id", id}, {"ok", false}, {"error", why}});
  return {{"state", backup::CheckStateName(r.state)},
          {"exit", r.exit_code()},
          {"summary", r.summary},
          {"now", in.now},
          {"max-age", in.max_age},
          {"containers", containers},
          {"storages", storages},
          {"warnings", r.warnings}};
}

void PrintText(const backup::StatusReport& r, const backup::StatusInput& in) {
  using backup::EscapeControl;
  fmt::print("{}\n", EscapeControl(r.summary));
  if (r.containers.empty()) return;
  fmt::print("{:<16} {:<8} {:<52} {:>8} {:>10} {}\n", "VMID", "STATE", "NEWEST BACKUP", "AGE",
             "SIZE", "LAST JOB (UTC)");
  for (const auto& c : r.containers) {
    std::string last = "-";
    if (c.last_job)
      last = fmt::format("{} {}{}", backup::GuestOutcomeName(c.last_job->result),
                         UtcTime(c.last_job->time),
                         c.last_job->job_id.empty() ? "" : " job " + c.last_job->job_id);
    fmt::print("{:<16} {:<8} {:<52} {:>8} {:>10} {}\n", EscapeControl(c.vmid),
               backup::CheckStateName(c.state),
               c.newest ? EscapeControl(c.newest->storage + ":" + c.newest->volname) : "-",
               c.newest ? backup::FormatDuration(in.now - c.newest->ctime) : "-",
               c.newest && c.newest->size ? HumanBytes(*c.newest->size) : "-", EscapeControl(last));
    for (const auto& why : c.reasons) fmt::print("    {}\n", EscapeControl(why));
  }
  for (const auto& w : r.warnings) fmt::print("warning: {}\n", EscapeControl(w));
}

// --forget: removes each container's record; checks nothing.
int RunForget(const Context& ctx, const StatusArgs& a) {
  auto renderer = MakeRenderer(ctx);
  if (!a.vmids.empty() || !a.max_age.empty() || !a.storage.empty() || !a.exclude.empty()) {
    return UsageError(*renderer, InvalidArgumentError("--forget checks nothing: it takes no "
                                                      "containers to check, --max-age, --storage "
                                                      "or --exclude"));
  }
  int rc = kExitOk;
  json forgotten = json::array();
  for (const auto& vmid : backup::SplitGuestList(a.forget)) {
    Status s = backup::RemoveGuestRecord(ctx.paths.state_dir, vmid);
    if (!s.ok()) {
      renderer->Log(LogLevel::kErr, s.message());
      rc = kExitFailed;
      continue;
    }
    forgotten.push_back(vmid);
    if (!ctx.json())
      fmt::print("forgot container '{}': its last job is no longer recorded\n",
                 backup::EscapeControl(vmid));
  }
  renderer->OnResult(rc == kExitOk, rc, {{"forgotten", forgotten}});
  return rc;
}

int RunStatus(const Context& ctx, const StatusArgs& a) {
  if (!a.forget.empty()) return RunForget(ctx, a);
  auto renderer = MakeRenderer(ctx);
  backup::StatusInput in;
  in.now = ::time(nullptr);
  if (!a.max_age.empty()) {
    auto age = backup::ParseDuration(a.max_age);
    if (!age.ok()) return Unknown(ctx, *renderer, "--max-age: " + age.status().message());
    in.max_age = *age;
  }
  in.only = backup::SplitGuestList(a.vmids);
  in.exclude = backup::SplitGuestList(a.exclude);
  if (!a.storage.empty()) in.only_storage = a.storage;
  auto storages = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!storages.ok()) return Unknown(ctx, *renderer, storages.status().message());
  if (in.only_storage) {
    auto s = registry::FindStorage(*storages, *in.only_storage);
    if (!s.ok()) return Unknown(ctx, *renderer, s.status().message());
  }
  for (const auto& s : *storages) {
    if (in.only_storage && s.id != *in.only_storage) continue;
    if (s.Get("disable").value_or("0") == "1") continue;  // PVE's disabled storage
    ListStorage(*storages, s.id, renderer.get(), &in);
  }
  // (Classify leaves out restore tests' throw-away containers: a check
  // during a restore test must not turn critical.)
  auto containers = backup::ListContainers(ctx.paths.lxcpath);
  if (containers.ok()) {
    in.containers = std::move(*containers);
  } else {
    in.containers_listed = false;
    in.problems.push_back(containers.status().message());
  }
  auto records = backup::ReadGuestRecords(ctx.paths.state_dir, &in.problems);
  if (records.ok())
    in.records = std::move(*records);
  else
    in.problems.push_back(records.status().message());
  backup::StatusReport report = backup::Classify(in);
  if (ctx.json())
    renderer->OnResult(report.exit_code() == 0, report.exit_code(), ReportJson(report, in));
  else
    PrintText(report, in);
  return report.exit_code();
}

}  // namespace

void RegisterStatus(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<StatusArgs>();
  auto* s = app.add_subcommand(
      "status",
      "every container's newest backup per storage and last job result, as a monitoring check "
      "(exit 0 ok, 1 warning, 2 critical, 3 unknown)");
  s->add_option("vmid", a->vmids, "only these containers (also lists: a,b)");
  s->add_option("--max-age", a->max_age,
                "critical when a container has no backup younger than this (90m, 36h, 2d, 1w, "
                "1d12h; default 26h)");
  s->add_option("--storage", a->storage, "only this storage's backups and jobs");
  s->add_option("--exclude", a->exclude,
                "containers not to check (a list: a,b or 'a b'; repeatable), e.g. those no job "
                "backs up")
      ->allow_extra_args(false);
  s->add_option("--forget", a->forget,
                "forget these containers (a list: a,b): remove their recorded last job (a "
                "destroyed or mistyped container is otherwise checked until its record is "
                "--max-age old); checks nothing")
      ->allow_extra_args(false);
  ctx.AddRunner(s, [&ctx, a] { return RunStatus(ctx, *a); });
}

}  // namespace ctdump::cli
