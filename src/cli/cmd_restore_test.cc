// `ctdump restore-test <storage>:<volname> [--check CMD] [--timeout S]`: a
// backup restored into a throw-away container, compared with the backup
// (before the start: a running container changes its own files), started,
// checked and destroyed (restore/test_restore.h). Exit 0 when the
// test passed, 1 when it failed, 2 on a usage error.
//
// With --output-format json the log lines are JSON events and the last line
// is the result event (docs/json-events.md), its "data":
//   {"volume":"..","container":"..","idmap":[..],
//    "phases":[{"phase":"restore","seconds":1.2,"ok":true},..],
//    "total-seconds":..,"check-exit":0,"compare":{..},"cleaned":true}
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/job_runners.h"
#include "restore/restore.h"
#include "restore/test_restore.h"

namespace ctdump::cli {
namespace {

nlohmann::json ResultJson(const restore::RestoreTestResult& r) {
  nlohmann::json phases = nlohmann::json::array();
  for (const auto& p : r.phases)
    phases.push_back({{"phase", p.phase}, {"seconds", p.seconds}, {"ok", p.ok}});
  nlohmann::json j = {{"volume", r.volid},
                      {"container", r.container},
                      {"idmap", r.idmap},
                      {"phases", phases},
                      {"total-seconds", r.total_seconds},
                      {"cleaned", r.cleaned},
                      {"compare",
                       {{"entries", r.compare.entries},
                        {"files-sampled", r.compare.files_sampled},
                        {"bytes-sampled", r.compare.bytes_sampled},
                        {"mismatches", r.compare.mismatches},
                        {"first-mismatches", r.compare.first_mismatches}}}};
  if (r.check_exit) {
    j["check-exit"] = *r.check_exit;
    j["check-output"] = r.check_output;
  }
  if (!r.passed) {
    j["failed-phase"] = r.failed_phase;
    j["error"] = r.error;
  }
  return j;
}

}  // namespace

int RunRestoreTestCommand(const Context& ctx, Renderer& out, const RestoreTestRun& run) {
  auto volume = SplitVolumeId(run.volume);
  if (!volume.ok()) return UsageError(out, volume.status());
  if (::geteuid() != 0)
    return Fail(out, PermissionDeniedError("ctdump restore-test must run as root"));
  restore::RestoreTestOptions o;
  o.volid = run.volume;
  o.check = run.check;
  o.timeout_s = run.timeout_s;
  restore::Paths paths{ctx.paths.lxcpath, ctx.paths.config_dir, ctx.paths.run_dir,
                       ctx.paths.state_dir};
  auto result = restore::RunRestoreTest(o, paths, &out);
  if (!result.ok()) return Fail(out, result.status());
  std::string timings;
  for (const auto& p : result->phases)
    timings += fmt::format("{}{} {:.1f} s{}", timings.empty() ? "" : ", ", p.phase, p.seconds,
                           p.ok ? "" : " (failed)");
  out.Log(LogLevel::kInfo,
          fmt::format("timings: {}; total {:.1f} s", timings, result->total_seconds));
  const int code = result->passed ? kExitOk : kExitFailed;
  out.OnResult(result->passed, code, ResultJson(*result));
  return code;
}

void RegisterRestoreTest(CLI::App& app, Context& ctx) {
  auto run = std::make_shared<RestoreTestRun>();
  auto* r = app.add_subcommand(
      "restore-test",
      "restore a backup into a throw-away container, compare it with the backup, start it, run a "
      "check inside, destroy it");
  r->add_option("volume", run->volume, "<storage>:<volname>")->required();
  r->add_option("--check", run->check,
                "command run inside the container with /bin/sh -c (default: /bin/true); a "
                "non-zero exit fails the test");
  r->add_option("--timeout", run->timeout_s,
                "seconds each of start, init and the check may take (default 300)")
      ->check(CLI::Range(uint32_t{1}, uint32_t{86400}));
  ctx.AddRunner(r, [&ctx, run] {
    auto renderer = MakeRenderer(ctx);
    return RunRestoreTestCommand(ctx, *renderer, *run);
  });
}

}  // namespace ctdump::cli
