// `ctdump df <storage>`: the space a storage takes. For a datastore
// (datastore/usage.h): the total on disk, what the backups reference, what a
// gc would free, the deduplication factor and per container its backups,
// logical, unique and stored bytes. For other storages: the archives' sizes
// per container (no dedup). A table, or with --output-format json a result
// event whose "data" is an object.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include "backup/task_log.h"
#include "cli/commands.h"
#include "ctdump/units.h"
#include "datastore/usage.h"
#include "registry/registry.h"

namespace ctdump::cli {
namespace {

struct DfArgs {
  std::string storage;
};

int DatastoreDf(const Context& ctx, Renderer& out, const std::vector<Section>& storages,
                const std::string& storage) {
  auto ds = registry::OpenDatastore(storages, storage);
  if (!ds.ok()) return Fail(out, ds.status());
  auto u = datastore::ComputeUsage(**ds, std::nullopt, &out);
  if (!u.ok()) return Fail(out, u.status());
  if (ctx.json()) {
    nlohmann::json containers = nlohmann::json::array();
    for (const auto& c : u->containers)
      containers.push_back({{"vmid", c.vmid},
                            {"backups", c.backups},
                            {"size", c.logical},
                            {"unique-size", c.unique},
                            {"stored-size", c.stored}});
    out.OnResult(true, kExitOk,
                 {{"storage", storage},
                  {"type", "datastore"},
                  {"total", u->total_bytes},
                  {"objects", u->objects},
                  {"chunk-bytes", u->chunk_bytes},
                  {"chunks", u->chunks},
                  {"metadata-bytes", u->total_bytes - u->chunk_bytes},
                  {"referenced", u->referenced_bytes},
                  {"referenced-chunks", u->referenced_chunks},
                  {"reclaimable", u->reclaimable_bytes},
                  {"reclaimable-chunks", u->reclaimable_chunks},
                  {"leftover-bytes", u->leftover_bytes},
                  {"unreferenced-recent", u->unreferenced_recent_bytes},
                  {"missing-chunks", u->missing_chunks},
                  {"unreadable-backups", u->unreadable_snapshots},
                  {"backups", u->snapshots.size()},
                  {"logical", u->logical_bytes},
                  {"dedup-factor", u->dedup_factor()},
                  {"containers", containers}});
    return kExitOk;
  }
  fmt::print("storage '{}' (datastore)\n", backup::EscapeControl(storage));
  fmt::print("  {:<28} {:>12}  ({} objects)\n", "total on disk", HumanBytes(u->total_bytes),
             u->objects);
  fmt::print("  {:<28} {:>12}  ({} chunks)\n", "chunks", HumanBytes(u->chunk_bytes), u->chunks);
  fmt::print("  {:<28} {:>12}\n", "metadata (indexes, logs...)",
             HumanBytes(u->total_bytes - u->chunk_bytes));
  fmt::print("  {:<28} {:>12}  ({} chunks)\n", "referenced by backups",
             HumanBytes(u->referenced_bytes), u->referenced_chunks);
  fmt::print("  {:<28} {:>12}  ({} chunks, {} leftovers of interrupted backups)\n",
             "reclaimable by gc now", HumanBytes(u->reclaimable_bytes), u->reclaimable_chunks,
             HumanBytes(u->leftover_bytes));
  if (u->unreferenced_recent_bytes > 0)
    fmt::print("  {:<28} {:>12}\n", "unreferenced, too recent",
               HumanBytes(u->unreferenced_recent_bytes));
  fmt::print("  {:<28} {:>12}  ({} backups)\n", "logical size of backups",
             HumanBytes(u->logical_bytes), u->snapshots.size());
  fmt::print("  {:<28} {:>12.2f}\n", "deduplication factor", u->dedup_factor());
  if (u->missing_chunks > 0)
    fmt::print("  {:<28} {:>12}  (run 'ctdump verify {}')\n", "missing chunks", u->missing_chunks,
               backup::EscapeControl(storage));
  if (!u->unreadable_snapshots.empty())
    fmt::print(
        "  {:<28} {:>12}  (gc removes nothing until they are deleted; run 'ctdump verify "
        "{}')\n",
        "unreadable backups", u->unreadable_snapshots.size(), backup::EscapeControl(storage));
  fmt::print("\n{:<16} {:>8} {:>12} {:>12} {:>12}\n", "VMID", "BACKUPS", "SIZE", "UNIQUE",
             "STORED");
  for (const auto& c : u->containers)
    fmt::print("{:<16} {:>8} {:>12} {:>12} {:>12}\n", backup::EscapeControl(c.vmid), c.backups,
               HumanBytes(c.logical), HumanBytes(c.unique), HumanBytes(c.stored));
  return kExitOk;
}

// Other storages: every archive is a file of its own.
int ArchiveDf(const Context& ctx, Renderer& out, const std::vector<Section>& storages,
              const Section& section, const std::string& storage) {
  auto p = registry::OpenStorage(storages, storage, &out);
  if (!p.ok()) return Fail(out, p.status());
  auto list = (*p)->ListBackups(std::nullopt);
  Status sh = (*p)->Shutdown();
  if (!list.ok()) return Fail(out, list.status());
  struct Row {
    uint64_t backups = 0, size = 0, unknown = 0;
  };
  std::map<std::string, Row> rows;
  uint64_t total = 0, unknown = 0;
  for (const auto& b : *list) {
    Row& r = rows[b.vmid];
    ++r.backups;
    if (b.size) {
      r.size += *b.size;
      total += *b.size;
    } else {
      ++r.unknown;
      ++unknown;
    }
  }
  if (ctx.json()) {
    nlohmann::json containers = nlohmann::json::array();
    for (const auto& [vmid, r] : rows)
      containers.push_back(
          {{"vmid", vmid}, {"backups", r.backups}, {"size", r.size}, {"unknown-size", r.unknown}});
    if (!sh.ok()) out.Log(LogLevel::kWarn, sh.message());
    out.OnResult(true, kExitOk,
                 {{"storage", storage},
                  {"type", section.type},
                  {"total", total},
                  {"backups", list->size()},
                  {"unknown-size", unknown},
                  {"containers", containers}});
    return kExitOk;
  } else {
    fmt::print("storage '{}' ({}): archives, no deduplication\n", backup::EscapeControl(storage),
               backup::EscapeControl(section.type));
    fmt::print("  {:<28} {:>12}  ({} backups{})\n", "total of the archives", HumanBytes(total),
               list->size(), unknown ? fmt::format(", {} of unknown size", unknown) : "");
    fmt::print("\n{:<10} {:>8} {:>12}\n", "VMID", "BACKUPS", "SIZE");
    for (const auto& [vmid, r] : rows)
      fmt::print("{:<10} {:>8} {:>12}\n", backup::EscapeControl(vmid), r.backups,
                 HumanBytes(r.size));
  }
  if (!sh.ok()) out.Log(LogLevel::kWarn, sh.message());
  return kExitOk;
}

int RunDf(const Context& ctx, const DfArgs& a) {
  auto renderer = MakeRenderer(ctx);
  auto storages = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!storages.ok()) return Fail(*renderer, storages.status());
  auto section = registry::FindStorage(*storages, a.storage);
  if (!section.ok()) return Fail(*renderer, section.status());
  if ((*section)->type == "datastore") return DatastoreDf(ctx, *renderer, *storages, a.storage);
  return ArchiveDf(ctx, *renderer, *storages, **section, a.storage);
}

}  // namespace

void RegisterDf(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<DfArgs>();
  auto* df = app.add_subcommand(
      "df", "space a storage takes: total, referenced, reclaimable by gc, dedup factor");
  df->add_option("storage", a->storage, "storage id")->required();
  ctx.AddRunner(df, [&ctx, a] { return RunDf(ctx, *a); });
}

}  // namespace ctdump::cli
