// `ctdump verify <storage> [<volume>]` for every kind of storage: the
// datastore's own verify (chunks, indexes, manifests), and for `dir` and
// external providers a full read of each backup as a restore reads it
// (restore/archive_check.h). Exit code 0 when every backup checked is
// intact, 1 when one is damaged or cannot be read, or on any other failure.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <optional>

#include "cli/commands.h"
#include "cli/datastore_storage.h"
#include "cli/job_runners.h"
#include "ctdump/section_config.h"
#include "ctdump/units.h"
#include "datastore/maintenance.h"
#include "registry/registry.h"
#include "restore/archive_check.h"

namespace ctdump::cli {
namespace {

// The datastore's verify: every chunk re-hashed, every reference checked
// (datastore/maintenance.h).
int RunVerifyDatastore(const Context& ctx, Renderer& out, const std::string& storage,
                       const std::optional<std::string>& volume) {
  auto ds = OpenDatastoreStorage(ctx, storage);
  if (!ds.ok()) return Fail(out, ds.status());
  out.Log(LogLevel::kInfo,
          volume ? fmt::format("verifying backup '{}' on storage '{}'", *volume, storage)
                 : fmt::format("verifying every chunk and backup of storage '{}'", storage));
  auto start = std::chrono::steady_clock::now();
  auto r = datastore::Verify(**ds, volume, 0, &out);
  if (!r.ok()) return Fail(out, r.status());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& p : r->problems) out.Log(LogLevel::kErr, p);
  for (const auto& v : r->damaged_snapshots)
    out.Log(LogLevel::kErr, fmt::format("backup '{}:{}' is damaged", storage, v));
  for (const auto& v : r->other_key_snapshots)
    out.Log(LogLevel::kErr,
            fmt::format("backup '{}:{}' is encrypted with another key (or none is configured, "
                        "or it is not encrypted but the storage has a key): its references "
                        "were checked, not its content, and it cannot be restored with this "
                        "configuration",
                        storage, v));
  if (r->deleted_meanwhile)
    out.Log(LogLevel::kInfo, fmt::format("{} backup(s) were deleted while verify ran: not "
                                         "reported",
                                         r->deleted_meanwhile));
  if (r->other_key_chunks)
    out.Log(LogLevel::kWarn, fmt::format("{} chunks are encrypted with another key: only their "
                                         "presence was checked",
                                         r->other_key_chunks));
  out.Log(LogLevel::kInfo,
          fmt::format("verified {} backup(s), {} chunks, {} in {:.1f} s ({:.0f} MiB/s of "
                      "chunk data); {}",
                      r->snapshots, r->chunks, HumanBytes(r->chunk_bytes), secs,
                      secs > 0 ? static_cast<double>(r->chunk_bytes) / secs / 1048576 : 0.0,
                      r->ok() ? "no problems found"
                              : fmt::format("{} problem(s) found", r->problems.size())));
  return r->ok() ? 0 : 1;
}

// The backups to check: all of the storage's, or `volume` if it exists.
Result<std::vector<std::string>> Selected(Provider& p, const std::string& storage,
                                          const std::optional<std::string>& volume) {
  ASSIGN_OR_RETURN(auto list, p.ListBackups(std::nullopt));
  std::vector<std::string> names;
  for (const auto& b : list)
    if (!volume || b.volname == *volume) names.push_back(b.volname);
  if (volume && names.empty())
    return NotFoundError(
        fmt::format("backup '{}' does not exist on storage '{}'", *volume, storage));
  return names;
}

int VerifyArchives(Renderer& out, Provider& p, const std::string& storage,
                   const std::optional<std::string>& volume) {
  auto names = Selected(p, storage, volume);
  if (!names.ok()) return Fail(out, names.status());
  out.Log(LogLevel::kInfo,
          volume ? fmt::format("verifying backup '{}:{}' by reading it whole", storage, *volume)
                 : fmt::format("verifying {} backup(s) of storage '{}' by reading each whole",
                               names->size(), storage));
  auto start = std::chrono::steady_clock::now();
  size_t damaged = 0;
  uint64_t bytes = 0;
  for (const auto& name : *names) {
    auto check = restore::CheckBackup(p, name, &out);
    if (!check.ok() && check.status().code() == Code::kCancelled) return Fail(out, check.status());
    if (!check.ok()) {
      ++damaged;
      out.Log(LogLevel::kErr, fmt::format("backup '{}:{}' is damaged: {}", storage, name,
                                          check.status().message()));
      continue;
    }
    bytes += check->read_bytes;
    out.Log(LogLevel::kInfo,
            fmt::format("backup '{}:{}' is intact: {} entries, {} of data", storage, name,
                        check->entries, HumanBytes(check->data_bytes)));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.Log(LogLevel::kInfo,
          fmt::format("verified {} backup(s), {} read in {:.1f} s; {}", names->size(),
                      HumanBytes(bytes), secs,
                      damaged ? fmt::format("{} damaged", damaged) : "no problems found"));
  return damaged ? kExitFailed : kExitOk;
}

int RunVerifyStorage(const Context& ctx, Renderer& out, const std::string& storage,
                     const std::optional<std::string>& volume) {
  auto storages = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!storages.ok()) return Fail(out, storages.status());
  auto section = registry::FindStorage(*storages, storage);
  if (section.ok() && (*section)->type == "datastore")
    return RunVerifyDatastore(ctx, out, storage, volume);
  auto p = registry::OpenStorage(*storages, storage, &out);
  if (!p.ok()) return Fail(out, p.status());
  int rc = VerifyArchives(out, **p, storage, volume);
  Status sh = (*p)->Shutdown();
  if (!sh.ok()) out.Log(LogLevel::kWarn, sh.message());
  return rc;
}

struct VerifyArgs {
  std::string storage, volume;
};

}  // namespace

int RunVerifyCommand(const Context& ctx, Renderer& out, const VerifyRun& run) {
  return RunVerifyStorage(ctx, out, run.storage, std::nullopt);
}

void RegisterVerify(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<VerifyArgs>();
  auto* ver = app.add_subcommand(
      "verify",
      "check backups: a datastore's chunks and references; other storages' archives read whole");
  ver->add_option("storage", a->storage, "storage id")->required();
  ver->add_option("volume", a->volume, "only this backup (<volname> or <storage>:<volname>)");
  ctx.AddRunner(ver, [&ctx, a] {
    auto renderer = MakeRenderer(ctx);
    // `volume` without the "<storage>:" prefix, or nullopt for every backup.
    std::optional<std::string> v;
    if (!a->volume.empty()) {
      v = a->volume;
      if (v->starts_with(a->storage + ":")) v = v->substr(a->storage.size() + 1);
    }
    return RunVerifyStorage(ctx, *renderer, a->storage, v);
  });
}

}  // namespace ctdump::cli
