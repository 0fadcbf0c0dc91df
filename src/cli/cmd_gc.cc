// `ctdump gc <storage> [--dry-run]`: removes chunks no backup references
// (datastore/maintenance.h; safe beside backups).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/datastore_storage.h"
#include "cli/job_runners.h"
#include "datastore/maintenance.h"

namespace ctdump::cli {

int RunGcCommand(const Context& ctx, Renderer& out, const std::string& storage, bool dry_run) {
  auto ds = OpenDatastoreStorage(ctx, storage);
  if (!ds.ok()) return Fail(out, ds.status());
  out.Log(LogLevel::kInfo, fmt::format("garbage collection on storage '{}'{}", storage,
                                       dry_run ? " (dry run)" : ""));
  auto r = datastore::CollectGarbage(**ds, dry_run, &out);
  if (!r.ok()) return Fail(out, r.status());
  out.Log(LogLevel::kInfo,
          fmt::format("{} chunks, {} referenced; {} {} unreferenced chunks ({}); {} "
                      "unreferenced but too recent to remove; {} leftovers of interrupted "
                      "backups {}; {} damaged chunk copies (.bad) {}",
                      r->chunks, r->marked, dry_run ? "would remove" : "removed", r->removed,
                      HumanBytes(r->removed_bytes), r->kept_recent, r->leftovers_removed,
                      dry_run ? "would be removed" : "removed", r->bad_removed,
                      dry_run ? "would be removed" : "removed"));
  if (!dry_run)
    out.Log(LogLevel::kInfo, fmt::format("removed {} temporary files of interrupted writes and "
                                         "{} empty snapshot directories",
                                         r->temps_removed, r->dirs_removed));
  // With --dry-run the counts are what a gc would remove.
  out.OnResult(true, kExitOk,
               {{"storage", storage},
                {"dry-run", dry_run},
                {"chunks", r->chunks},
                {"referenced-chunks", r->marked},
                {"removed-chunks", r->removed},
                {"removed-bytes", r->removed_bytes},
                {"kept-recent", r->kept_recent},
                {"leftovers-removed", r->leftovers_removed},
                {"bad-removed", r->bad_removed},
                {"temps-removed", r->temps_removed},
                {"dirs-removed", r->dirs_removed}});
  return kExitOk;
}

namespace {

struct GcArgs {
  std::string storage;
  bool dry_run = false;
};

}  // namespace

void RegisterGc(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<GcArgs>();
  auto* gcc = app.add_subcommand("gc", "remove chunks no backup references (safe beside backups)");
  gcc->add_option("storage", a->storage, "datastore storage id")->required();
  gcc->add_flag("--dry-run", a->dry_run, "only count what would be removed");
  ctx.AddRunner(gcc, [&ctx, a] {
    auto renderer = MakeRenderer(ctx);
    return RunGcCommand(ctx, *renderer, a->storage, a->dry_run);
  });
}

}  // namespace ctdump::cli
