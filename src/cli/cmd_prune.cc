// `ctdump prune <storage> <ct>`: retention on its own, by --prune-backups or
// the storage's prune-backups.
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "backup/retention.h"
#include "cli/commands.h"
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
  PruneOptions opts;
  if (!a.prune_backups.empty()) {
    auto given = ParsePruneOptions(a.prune_backups);
    if (!given.ok()) {
      renderer->Log(LogLevel::kErr, given.status().WithContext("--prune-backups").message());
      return kExitUsage;
    }
    opts = *given;
  } else if (auto section = registry::FindStorage(*storages, a.storage); section.ok()) {
    auto settings = registry::ParseStorageSettings(**section);
    if (!settings.ok()) return Fail(*renderer, settings.status());
    opts = settings->prune.value_or(PruneOptions());
  }
  if (opts.KeepsEverything()) {
    renderer->Log(LogLevel::kInfo, "retention keeps everything (keep-all): nothing to prune");
    return kExitOk;
  }
  auto p = registry::OpenStorage(*storages, a.storage, renderer.get());
  if (!p.ok()) return Fail(*renderer, p.status());
  renderer->Log(LogLevel::kInfo, "retention: " + opts.ToString());
  auto n = backup::PruneGuest(**p, a.vmid, opts, std::nullopt, a.dry_run, renderer.get());
  Status sh = (*p)->Shutdown();
  if (!n.ok()) return Fail(*renderer, n.status());
  renderer->Log(LogLevel::kInfo,
                fmt::format("{} {} backup(s)", a.dry_run ? "would prune" : "pruned", *n));
  if (!sh.ok()) renderer->Log(LogLevel::kWarn, sh.message());
  return kExitOk;
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
