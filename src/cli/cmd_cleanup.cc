// `ctdump cleanup`: repairs what a killed ctdump left (backup/journal.h,
// restore/restore_journal.h).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>

#include "backup/journal.h"
#include "cli/commands.h"
#include "providertest/failure_checks.h"
#include "restore/restore_journal.h"
#include "sys/file.h"
#include "sys/journal.h"
#include "sys/lock_file.h"

namespace ctdump::cli {
namespace {

int RunCleanup(const Context& ctx) {
  auto renderer = MakeRenderer(ctx);
  const std::string& run_dir = ctx.paths.run_dir;
  // Under the global job lock: never race a job that is repairing too.
  auto warn = [&](const std::string& m) { renderer->Log(LogLevel::kWarn, m); };
  Status made = sys::MakeDirs(run_dir, 0755);
  auto lock = made.ok()
                  ? sys::LockFile::Acquire(run_dir + "/ctdump.lock", std::chrono::seconds(60), warn)
                  : Result<sys::LockFile>(made);
  if (!lock.ok()) return Fail(*renderer, lock.status());
  // The journals are on disk (<state_dir>/journal); those of an earlier boot
  // are abandoned (the unit ctdump-cleanup.service runs this at boot).
  const sys::JournalDirs dirs = sys::MakeJournalDirs(ctx.paths.state_dir, run_dir);
  auto n = backup::RepairAbandoned(dirs, renderer.get());
  auto r = restore::RepairAbandonedRestores(dirs, run_dir, renderer.get());
  if (n.ok()) renderer->Log(LogLevel::kInfo, fmt::format("repaired {} interrupted backup(s)", *n));
  if (r.ok()) renderer->Log(LogLevel::kInfo, fmt::format("removed {} interrupted restore(s)", *r));
  for (const Status& s : {n.status(), r.status()})
    if (!s.ok()) renderer->Log(LogLevel::kErr, s.message());
  // A SIGKILLed `ctdump provider-test`'s containers went with the restore
  // journals above; its fault shim's directory goes here.
  providertest::RemoveStaleFaultDirs(providertest::kFaultDirParent, renderer.get());
  // JSON: the result also when a part failed (its error was logged); null
  // counts for the part that failed.
  const bool ok = n.ok() && r.ok();
  renderer->OnResult(ok, ok ? kExitOk : kExitFailed,
                     {{"repaired-backups", n.ok() ? nlohmann::json(*n) : nlohmann::json()},
                      {"removed-restores", r.ok() ? nlohmann::json(*r) : nlohmann::json()}});
  return ok ? kExitOk : kExitFailed;
}

}  // namespace

void RegisterCleanup(CLI::App& app, Context& ctx) {
  auto* cl = app.add_subcommand("cleanup",
                                "repair what a killed ctdump left: thaw/start containers, remove "
                                "snapshots and half-restored containers");
  ctx.AddRunner(cl, [&ctx] { return RunCleanup(ctx); });
}

}  // namespace ctdump::cli
