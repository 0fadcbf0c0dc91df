// `ctdump compact <storage> [--level N] [--all] [--dry-run]`: recompresses
// the chunks backups stored with the fast codec (LZ4) to zstd
// (datastore/compact.h; safe beside backups, gc, verify and restores).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/datastore_storage.h"
#include "cli/job_runners.h"
#include "datastore/compact.h"

namespace ctdump::cli {

int RunCompactCommand(const Context& ctx, Renderer& out, const CompactRun& run) {
  auto ds = OpenDatastoreStorage(ctx, run.storage);
  if (!ds.ok()) return Fail(out, ds.status());
  datastore::CompactOptions o;
  o.zstd_level = run.level.value_or(0);
  o.all = run.all;
  o.dry_run = run.dry_run;
  const int level = o.zstd_level > 0 ? o.zstd_level : (*ds)->compact_level();
  out.Log(LogLevel::kInfo, fmt::format("compacting storage '{}' to zstd level {}{}", run.storage,
                                       level, run.dry_run ? " (dry run)" : ""));
  auto r = datastore::Compact(**ds, o, &out);
  if (!r.ok()) return Fail(out, r.status());
  out.Log(
      LogLevel::kInfo,
      fmt::format(
          "{} chunks, {} read ({}); {} {} LZ4 or uncompressed chunks: {} -> {}; {} left as they "
          "are (zstd was not smaller)",
          r->chunks, r->read, r->incremental ? "changed since the last compaction" : "all",
          run.dry_run ? "would recompress" : "recompressed", r->recompressed,
          HumanBytes(r->bytes_before), HumanBytes(r->bytes_after), r->kept));
  for (const std::string& p : r->problems) out.Log(LogLevel::kWarn, p);
  if (r->damaged > 0)
    out.Log(LogLevel::kWarn, fmt::format("{} damaged chunks left as they are: run 'ctdump verify "
                                         "{}' to find the backups that need them",
                                         r->damaged, run.storage));
  if (r->keyless > 0)
    out.Log(LogLevel::kWarn,
            fmt::format("{} chunks are encrypted with a key that could not be loaded: left as "
                        "they are",
                        r->keyless));
  const bool ok = r->damaged == 0 && r->keyless == 0;
  out.OnResult(ok, ok ? kExitOk : kExitFailed,
               {{"storage", run.storage},
                {"dry-run", run.dry_run},
                {"level", level},
                {"incremental", r->incremental},
                {"chunks", r->chunks},
                {"read", r->read},
                {"recompressed", r->recompressed},
                {"bytes-before", r->bytes_before},
                {"bytes-after", r->bytes_after},
                {"kept", r->kept},
                {"damaged", r->damaged},
                {"keyless", r->keyless}});
  return ok ? kExitOk : kExitFailed;
}

void RegisterCompact(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<CompactRun>();
  auto* c = app.add_subcommand(
      "compact",
      "recompress the chunks backups stored with LZ4 to zstd (safe beside backups and gc)");
  c->add_option("storage", a->storage, "datastore storage id")->required();
  c->add_option("--level", a->level, "zstd level (default: the storage's compact-level, else 3)")
      ->check(CLI::Range(1, 19));
  c->add_flag("--all", a->all, "read every chunk, not only those changed since the last compact");
  c->add_flag("--dry-run", a->dry_run, "only count what would be recompressed");
  ctx.AddRunner(c, [&ctx, a] {
    auto renderer = MakeRenderer(ctx);
    return RunCompactCommand(ctx, *renderer, *a);
  });
}

}  // namespace ctdump::cli
