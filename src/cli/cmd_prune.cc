// `ctdump prune <storage> <ct>`: retention on its own, by --prune-backups or
// the storage's prune-backups. Says what the removals free: on a datastore
// the chunks no backup references any more, which only a gc removes
// (datastore/usage.h); on a dir storage the archives' sizes, freed at once.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include "backup/retention.h"
#include "cli/commands.h"
#include "ctdump/units.h"
#include "datastore/usage.h"
#include "registry/registry.h"

namespace ctdump::cli {
namespace {

struct PruneArgs {
  std::string storage, vmid, prune_backups;
  bool dry_run = false;
};

int RunPrune(const Context& ctx, const PruneArgs& a) {
  auto renderer = MakeRenderer(ctx);
  auto storages = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!storages.ok()) return Fail(*renderer, storages.status());
  // --prune-backups, else the storage's prune-backups (parsed by the
  // registry, errors naming the storage), else keep-all.
  // The storage first: an unknown one (or no storage.cfg) is an error naming
  // the file, whatever the retention.
  auto section = registry::FindStorage(*storages, a.storage);
  if (!section.ok()) return Fail(*renderer, section.status());
  PruneOptions opts;
  if (!a.prune_backups.empty()) {
    auto given = ParsePruneOptions(a.prune_backups);
    if (!given.ok()) return UsageError(*renderer, given.status().WithContext("--prune-backups"));
    opts = *given;
  } else {
    auto settings = registry::ParseStorageSettings(**section);
    if (!settings.ok()) return Fail(*renderer, settings.status());
    opts = settings->prune.value_or(PruneOptions());
  }
  // JSON: the result; the counts are what would be removed with --dry-run.
  auto result = [&](uint64_t pruned, std::optional<uint64_t> freed,
                    std::optional<uint64_t> reclaimable) {
    renderer->OnResult(
        true, kExitOk,
        {{"storage", a.storage},
         {"vmid", a.vmid},
         {"dry-run", a.dry_run},
         {"retention", opts.ToString()},
         {"pruned", pruned},
         {"freed-bytes", freed ? nlohmann::json(*freed) : nlohmann::json()},
         {"gc-reclaimable-bytes", reclaimable ? nlohmann::json(*reclaimable) : nlohmann::json()}});
    return kExitOk;
  };
  if (opts.KeepsEverything()) {
    renderer->Log(LogLevel::kInfo, "retention keeps everything (keep-all): nothing to prune");
    return result(0, std::nullopt, std::nullopt);
  }
  auto p = registry::OpenStorage(*storages, a.storage, renderer.get());
  if (!p.ok()) return Fail(*renderer, p.status());
  const std::string type = (*section)->type;
  // A dir storage's archives before, for what the removals freed.
  std::map<std::string, std::optional<uint64_t>> before;
  if (type == "dir" && !a.dry_run) {
    auto list = (*p)->ListBackups(a.vmid);
    if (list.ok())
      for (const auto& b : *list) before[b.volname] = b.size;
  }
  renderer->Log(LogLevel::kInfo, "retention: " + opts.ToString());
  auto n = backup::PruneGuest(**p, a.vmid, opts, std::nullopt, a.dry_run, renderer.get());
  std::optional<uint64_t> freed;
  if (n.ok() && *n > 0 && !before.empty()) {
    auto after = (*p)->ListBackups(a.vmid);
    if (after.ok()) {
      for (const auto& b : *after) before.erase(b.volname);
      freed = 0;
      for (const auto& [volname, size] : before) *freed += size.value_or(0);
    }
  }
  Status sh = (*p)->Shutdown();
  if (!n.ok()) return Fail(*renderer, n.status());
  renderer->Log(LogLevel::kInfo,
                fmt::format("{} {} backup(s)", a.dry_run ? "would prune" : "pruned", *n));
  if (freed) renderer->Log(LogLevel::kInfo, fmt::format("freed {}", HumanBytes(*freed)));
  std::optional<uint64_t> reclaimable;
  if (type == "datastore" && !a.dry_run && *n > 0) {
    auto ds = registry::OpenDatastore(*storages, a.storage);
    Result<datastore::StoreUsage> u =
        ds.ok() ? datastore::ComputeUsage(**ds, std::nullopt, renderer.get()) : ds.status();
    if (u.ok()) {
      renderer->Log(LogLevel::kInfo, datastore::DescribeUnreferenced(*u, a.storage));
      reclaimable = u->reclaimable_bytes;
    } else {
      renderer->Log(LogLevel::kWarn,
                    fmt::format("cannot compute what a gc would free: {}", u.status().message()));
    }
  }
  if (!sh.ok()) renderer->Log(LogLevel::kWarn, sh.message());
  return result(*n, freed, reclaimable);
}

}  // namespace

void RegisterPrune(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<PruneArgs>();
  auto* pr = app.add_subcommand("prune", "remove old backups of a container by retention options");
  pr->add_option("storage", a->storage, "storage id")->required();
  pr->add_option("vmid", a->vmid, "container")->required();
  pr->add_option("--prune-backups", a->prune_backups,
                 "retention (default: the storage's prune-backups)");
  pr->add_flag("--dry-run", a->dry_run, "only show what would be removed");
  ctx.AddRunner(pr, [&ctx, a] { return RunPrune(ctx, *a); });
}

}  // namespace ctdump::cli
