// `ctdump sync <source-storage> <target-storage> [--vmid CT]... [--remove-vanished]
// [--transfer-last N]`: copies backups from one datastore storage to another
// with only the chunks the target lacks (datastore/sync.h), as PBS's sync
// job. Exit code 0 when every selected backup is on the target, 1 when one
// could not be copied (the others are), or on any other failure.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/datastore_storage.h"
#include "cli/job_runners.h"
#include "ctdump/units.h"
#include "datastore/sync.h"

namespace ctdump::cli {
namespace {

nlohmann::json Volids(const std::string& storage, const std::vector<std::string>& names) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& n : names) a.push_back(storage + ":" + n);
  return a;
}

}  // namespace

std::vector<std::string> SplitVmidList(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::string item;
    std::istringstream in(v);
    while (std::getline(in, item, ',')) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty() && std::find(out.begin(), out.end(), item) == out.end())
        out.push_back(item);
    }
  }
  return out;
}

int RunSyncCommand(const Context& ctx, Renderer& out, const SyncRun& run) {
  if (run.source == run.target)
    return UsageError(out, InvalidArgumentError(fmt::format(
                               "source and target are the same storage '{}'", run.source)));
  if (run.transfer_last && *run.transfer_last == 0)
    return UsageError(out, InvalidArgumentError("--transfer-last must be at least 1"));
  auto source = OpenDatastoreStorage(ctx, run.source);
  if (!source.ok()) return FailOrUsage(out, source.status());
  auto target = OpenDatastoreStorage(ctx, run.target);
  if (!target.ok()) return FailOrUsage(out, target.status());
  datastore::SyncOptions o;
  o.vmids = run.vmids;
  o.transfer_last = run.transfer_last;
  o.remove_vanished = run.remove_vanished;
  std::string what = o.vmids.empty() ? "every container"
                                     : fmt::format("container(s) {}", fmt::join(o.vmids, ", "));
  if (o.transfer_last) what += fmt::format(", the newest {} backup(s) of each", *o.transfer_last);
  out.Log(LogLevel::kInfo,
          fmt::format("sync from storage '{}' to storage '{}': {}{}", run.source, run.target, what,
                      o.remove_vanished ? ", removing vanished backups" : ""));
  auto r = datastore::SyncStores(**source, **target, o, &out);
  if (!r.ok()) return FailOrUsage(out, r.status());
  for (const auto& f : r->failures) out.Log(LogLevel::kErr, "failed: " + f);
  out.Log(LogLevel::kInfo,
          fmt::format("sync finished: {} backup(s) copied, {} skipped, {} removed, {} failed; "
                      "{} chunks sent ({}), {} already on the target; {:.1f} s",
                      r->copied, r->skipped, r->removed, r->failures.size(), r->chunks_sent,
                      HumanBytes(r->bytes_sent), r->chunks_present, r->seconds));
  const int code = r->ok() ? kExitOk : kExitFailed;
  out.OnResult(
      r->ok(), code,
      {{"source", run.source},
       {"target", run.target},
       {"vmid", run.vmids.empty() ? nlohmann::json() : nlohmann::json(run.vmids)},
       {"transfer-last", run.transfer_last ? nlohmann::json(*run.transfer_last) : nlohmann::json()},
       {"remove-vanished", run.remove_vanished},
       {"containers", r->containers},
       {"copied", Volids(run.target, r->copied_snapshots)},
       {"skipped", r->skipped},
       {"removed", Volids(run.target, r->removed_snapshots)},
       {"kept-protected", Volids(run.target, r->kept_protected)},
       {"failed", r->failures},
       {"chunks-sent", r->chunks_sent},
       {"chunks-present", r->chunks_present},
       {"chunks-resent", r->chunks_resent},
       {"bytes-sent", r->bytes_sent},
       {"logical-bytes", r->logical_bytes},
       {"seconds", r->seconds}});
  return code;
}

void RegisterSync(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<SyncRun>();
  auto raw_vmids = std::make_shared<std::vector<std::string>>();
  auto* s = app.add_subcommand(
      "sync",
      "copy backups to another datastore storage, sending only the chunks it lacks (safe beside "
      "backups and gc on both)");
  s->add_option("source", a->source, "datastore storage id to copy from")->required();
  s->add_option("target", a->target, "datastore storage id to copy to")->required();
  s->add_option("--vmid", *raw_vmids,
                "only these containers (repeatable, also lists: 101,102); default: all")
      ->allow_extra_args(false);
  s->add_flag("--remove-vanished", a->remove_vanished,
              "remove backups of the synced containers that the source no longer has (not "
              "protected ones)");
  s->add_option("--transfer-last", a->transfer_last,
                "copy only the newest N backups of each container")
      ->check(CLI::PositiveNumber);
  ctx.AddRunner(s, [&ctx, a, raw_vmids] {
    auto renderer = MakeRenderer(ctx);
    a->vmids = SplitVmidList(*raw_vmids);
    return RunSyncCommand(ctx, *renderer, *a);
  });
}

}  // namespace ctdump::cli
