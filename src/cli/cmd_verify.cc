// `ctdump verify <storage> [<volume>]` for every kind of storage: the
// datastore's own verify (chunks, indexes, manifests), and for `dir` and
// external providers a full read of each backup as a restore reads it
// (restore/archive_check.h). Exit code 0 when every backup checked is
// intact, 1 when one is damaged or cannot be read, or on any other failure.
// --vmid: one container's backups. --ignore-verified [--outdated-after N]
// (PBS's names): a datastore's backups whose last verify was ok (within N
// days) are skipped; each verify records its outcome per backup
// (datastore/maintenance.h, verify state).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
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

// --ignore-verified without --outdated-after: a backup verified ok once is
// not verified again (PBS); 100 years, as jobs.cfg's verify jobs say it
// (jobs::kNeverOutdatedDays).
constexpr uint32_t kNeverOutdated = 36500;

// The datastore's verify: every chunk re-hashed, every reference checked
// (datastore/maintenance.h).
int RunVerifyDatastore(const Context& ctx, Renderer& out, const VerifyRun& run,
                       const std::optional<std::string>& volume) {
  const std::string& storage = run.storage;
  auto ds = OpenDatastoreStorage(ctx, storage);
  if (!ds.ok()) return Fail(out, ds.status());
  out.Log(LogLevel::kInfo,
          volume     ? fmt::format("verifying backup '{}' on storage '{}'", *volume, storage)
          : run.vmid ? fmt::format("verifying the backups of container '{}' on storage '{}'",
                                   *run.vmid, storage)
                     : fmt::format("verifying every chunk and backup of storage '{}'", storage));
  datastore::VerifyOptions o;
  o.volname = volume;
  o.vmid = run.vmid;
  if (run.skip_verified_days) o.skip_verified_s = int64_t{*run.skip_verified_days} * 86400;
  auto start = std::chrono::steady_clock::now();
  auto r = datastore::Verify(**ds, o, &out);
  if (!r.ok()) return Fail(out, r.status());
  if (run.skip_verified_days)
    out.Log(LogLevel::kInfo,
            *run.skip_verified_days >= kNeverOutdated
                ? fmt::format("skipped {} backup(s) verified ok before", r->skipped)
                : fmt::format("skipped {} backup(s) verified ok within {} day(s)", r->skipped,
                              *run.skip_verified_days));
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
  auto volids = [&](const std::vector<std::string>& names) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& n : names) a.push_back(storage + ":" + n);
    return a;
  };
  const int code = r->ok() ? kExitOk : kExitFailed;
  out.OnResult(
      r->ok(), code,
      {{"storage", storage},
       {"type", "datastore"},
       {"volume", volume ? nlohmann::json(storage + ":" + *volume) : nlohmann::json()},
       {"vmid", run.vmid ? nlohmann::json(*run.vmid) : nlohmann::json()},
       {"backups", r->snapshots},
       {"skipped", r->skipped},
       {"chunks", r->chunks},
       {"chunk-bytes", r->chunk_bytes},
       {"seconds", secs},
       {"problems", r->problems},
       {"damaged", volids(r->damaged_snapshots)},
       {"other-key", volids(r->other_key_snapshots)},
       {"other-key-chunks", r->other_key_chunks},
       {"deleted-meanwhile", r->deleted_meanwhile},
       {"keyless", volids(r->keyless_snapshots)},
       {"keyless-chunks", r->keyless_chunks},
       {"keyless-reason",
        r->keyless_snapshots.empty() ? nlohmann::json() : nlohmann::json(r->keyless_reason)}});
  return code;
}

// The backups to check: all of the storage's, or `volume` if it exists.
Result<std::vector<std::string>> Selected(Provider& p, const std::string& storage,
                                          const std::optional<std::string>& volume,
                                          const std::optional<std::string>& vmid) {
  ASSIGN_OR_RETURN(auto list, p.ListBackups(vmid));
  std::vector<std::string> names;
  for (const auto& b : list)
    if (!volume || b.volname == *volume) names.push_back(b.volname);
  if (volume && names.empty())
    return NotFoundError(
        fmt::format("backup '{}' does not exist on storage '{}'", *volume, storage));
  return names;
}

int VerifyArchives(Renderer& out, Provider& p, const std::string& storage, const std::string& type,
                   const std::optional<std::string>& volume,
                   const std::optional<std::string>& vmid) {
  auto names = Selected(p, storage, volume, vmid);
  if (!names.ok()) return Fail(out, names.status());
  out.Log(LogLevel::kInfo,
          volume ? fmt::format("verifying backup '{}:{}' by reading it whole", storage, *volume)
                 : fmt::format("verifying {} backup(s) of storage '{}' by reading each whole",
                               names->size(), storage));
  auto start = std::chrono::steady_clock::now();
  size_t damaged = 0;
  uint64_t bytes = 0;
  nlohmann::json damaged_volids = nlohmann::json::array();
  for (const auto& name : *names) {
    auto check = restore::CheckBackup(p, name, &out);
    if (!check.ok() && check.status().code() == Code::kCancelled) return Fail(out, check.status());
    if (!check.ok()) {
      ++damaged;
      damaged_volids.push_back(storage + ":" + name);
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
  const int code = damaged ? kExitFailed : kExitOk;
  out.OnResult(damaged == 0, code,
               {{"storage", storage},
                {"type", type},
                {"volume", volume ? nlohmann::json(storage + ":" + *volume) : nlohmann::json()},
                {"vmid", vmid ? nlohmann::json(*vmid) : nlohmann::json()},
                {"backups", names->size()},
                {"read-bytes", bytes},
                {"seconds", secs},
                {"damaged", damaged_volids}});
  return code;
}

int RunVerifyStorage(const Context& ctx, Renderer& out, const VerifyRun& run,
                     const std::optional<std::string>& volume) {
  const std::string& storage = run.storage;
  auto storages = registry::LoadStorageConfig(ctx.paths.config_dir);
  if (!storages.ok()) return Fail(out, storages.status());
  auto section = registry::FindStorage(*storages, storage);
  if (section.ok() && (*section)->type == "datastore")
    return RunVerifyDatastore(ctx, out, run, volume);
  auto p = registry::OpenStorage(*storages, storage, &out);
  if (!p.ok()) return Fail(out, p.status());
  if (run.skip_verified_days)
    out.Log(LogLevel::kInfo, fmt::format("storage '{}' keeps no verify state (only datastores "
                                         "do): every backup is read",
                                         storage));
  int rc =
      VerifyArchives(out, **p, storage, section.ok() ? (*section)->type : "", volume, run.vmid);
  Status sh = (*p)->Shutdown();
  if (!sh.ok()) out.Log(LogLevel::kWarn, sh.message());
  return rc;
}

struct VerifyArgs {
  std::string storage, volume, vmid;
  bool ignore_verified = false;
  std::optional<uint32_t> outdated_after;
};

}  // namespace

int RunVerifyCommand(const Context& ctx, Renderer& out, const VerifyRun& run) {
  return RunVerifyStorage(ctx, out, run, std::nullopt);
}

void RegisterVerify(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<VerifyArgs>();
  auto* ver = app.add_subcommand(
      "verify",
      "check backups: a datastore's chunks and references; other storages' archives read whole");
  ver->add_option("storage", a->storage, "storage id")->required();
  ver->add_option("volume", a->volume, "only this backup (<volname> or <storage>:<volname>)");
  ver->add_option("--vmid", a->vmid, "only this container's backups");
  auto* ignore = ver->add_flag("--ignore-verified", a->ignore_verified,
                               "datastore: skip backups whose last verify was ok (PBS's "
                               "ignore-verified)");
  ver->add_option("--outdated-after", a->outdated_after,
                  "with --ignore-verified: verify again once the last ok verify is this many "
                  "days old (default: never)")
      ->check(CLI::Range(0u, kNeverOutdated))
      ->needs(ignore);
  ctx.AddRunner(ver, [&ctx, a] {
    auto renderer = MakeRenderer(ctx);
    // `volume` without the "<storage>:" prefix, or nullopt for every backup.
    std::optional<std::string> v;
    if (!a->volume.empty()) {
      v = a->volume;
      if (v->starts_with(a->storage + ":")) v = v->substr(a->storage.size() + 1);
    }
    VerifyRun run;
    run.storage = a->storage;
    if (!a->vmid.empty()) run.vmid = a->vmid;
    if (a->ignore_verified) run.skip_verified_days = a->outdated_after.value_or(kNeverOutdated);
    return RunVerifyStorage(ctx, *renderer, run, v);
  });
}

}  // namespace ctdump::cli
