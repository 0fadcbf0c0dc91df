// `ctdump provider-test <storage>`: the provider conformance kit
// (providertest/scenario.h, docs/design/third-party-providers.md §8).
//
// Text: one line per check as it ends (stdout), then the table and the
// summary line. JSON: a `check` event per check, then `result` whose data is
// the table (docs/json-events.md). Exit 0 when no check failed, 1 otherwise,
// 2 on a usage error.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "providertest/scenario.h"

namespace ctdump::cli {
namespace {

using providertest::Check;
using providertest::Outcome;

struct ProviderTestArgs {
  std::string storage;
  std::vector<std::string> mechanisms;
  bool keep = false;
  uint32_t idmap_base = 0;
  unsigned timeout_s = 600;
  bool bwlimit_check = false;
  std::vector<std::string> skip;  // groups of checks: failure
};

std::string Upper(const char* s) {
  std::string u = s;
  for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

nlohmann::json CheckJson(const Check& c) {
  return {{"id", c.id},           {"group", c.group},
          {"name", c.name},       {"result", providertest::OutcomeName(c.outcome)},
          {"seconds", c.seconds}, {"reason", c.reason},
          {"details", c.details}};
}

std::string TextTable(const providertest::KitReport& r) {
  std::string s = fmt::format("provider-test {} ({}{}{})\n", r.storage, r.provider,
                              r.features.empty() ? "" : ", features ",
                              fmt::format("{}", fmt::join(r.features, ", ")));
  s += fmt::format("{:>2}  {:<39}  {:<6}  {:>7}  {}\n", "#", "check", "result", "time", "reason");
  std::vector<Check> rows = r.checks;
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Check& a, const Check& b) { return a.id < b.id; });
  for (const auto& c : rows)
    s += fmt::format("{:>2}  {:<39}  {:<6}  {:>5.1f} s  {}\n", c.id, c.name,
                     Upper(providertest::OutcomeName(c.outcome)), c.seconds, c.reason);
  s += fmt::format("{} checks: {} passed, {} failed, {} skipped, {} with declared losses\n",
                   rows.size(), r.passed, r.failed, r.skipped, r.losses);
  return s;
}

int Run(const Context& ctx, const ProviderTestArgs& a) {
  auto out = MakeRenderer(ctx);
  for (const auto& m : a.mechanisms)
    if (m != "tar" && m != "directory")
      return UsageError(*out, InvalidArgumentError(fmt::format(
                                  "--mechanism: '{}' is neither tar nor directory", m)));
  for (const auto& g : a.skip)
    if (g != "failure")
      return UsageError(*out, InvalidArgumentError(fmt::format(
                                  "--skip: '{}' is not a group that can be skipped (failure)", g)));
  if (::geteuid() != 0)
    return Fail(*out, PermissionDeniedError("ctdump provider-test must run as root"));
  providertest::KitOptions o;
  o.storage = a.storage;
  o.lxcpath = ctx.paths.lxcpath;
  o.config_dir = ctx.paths.config_dir;
  o.run_dir = ctx.paths.run_dir;
  o.state_dir = ctx.paths.state_dir;
  o.mechanisms = a.mechanisms;
  o.keep = a.keep;
  if (a.idmap_base) o.idmap_base = a.idmap_base;
  o.timeout_s = a.timeout_s;
  o.bwlimit_check = a.bwlimit_check;
  o.failure_checks = std::find(a.skip.begin(), a.skip.end(), "failure") == a.skip.end();
  const bool json = ctx.json();
  const std::string storage = a.storage;
  auto report = providertest::RunProviderTest(o, out.get(), [&](const Check& c) {
    if (json) {
      nlohmann::json e = CheckJson(c);
      e["event"] = "check";
      e["storage"] = storage;
      PrintJsonEvent(std::move(e));
      return;
    }
    std::printf("%-4s %2d %s (%.1f s)%s%s\n", Upper(providertest::OutcomeName(c.outcome)).c_str(),
                c.id, c.name.c_str(), c.seconds, c.reason.empty() ? "" : ": ", c.reason.c_str());
    if (c.outcome == Outcome::kFail || c.outcome == Outcome::kLoss)
      for (const auto& d : c.details) std::printf("       %s\n", d.c_str());
    std::fflush(stdout);
  });
  if (!report.ok()) return Fail(*out, report.status());
  const int code = report->failed ? kExitFailed : kExitOk;
  if (json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& c : report->checks) rows.push_back(CheckJson(c));
    out->OnResult(code == kExitOk, code, rows);
  } else {
    std::printf("\n%s", TextTable(*report).c_str());
    std::fflush(stdout);
  }
  return code;
}

}  // namespace

void RegisterProviderTest(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ProviderTestArgs>();
  auto* p = app.add_subcommand(
      "provider-test",
      "run the provider conformance kit against a storage: backups, listing, notes, protection, "
      "prune, restores and their fidelity, delete, on a throw-away container");
  p->add_option("storage", a->storage, "storage id")->required();
  p->add_option("--mechanism", a->mechanisms,
                "restore mechanisms to test: tar, directory (a list: tar,directory; default: every "
                "one the provider offers)")
      ->delimiter(',');
  p->add_flag("--keep", a->keep, "keep the containers and backups for inspection");
  p->add_option("--idmap-base", a->idmap_base,
                "host id where the test container's ID map starts (default: above every map in "
                "use); restores use the next blocks of 131072")
      ->check(CLI::Range(uint32_t{65536}, uint32_t{4000000000u}));
  p->add_option("--timeout", a->timeout_s, "seconds each ctdump command may take (default 600)")
      ->check(CLI::Range(1u, 86400u));
  p->add_flag("--bwlimit-check", a->bwlimit_check,
              "also check the bandwidth limit (a 4 MiB backup at 1 MiB/s)");
  p->add_option("--skip", a->skip,
                "groups of checks to skip: failure (the crash, hang, garbage and abort checks of "
                "an external provider, about a minute)")
      ->delimiter(',');
  ctx.AddRunner(p, [&ctx, a] { return Run(ctx, *a); });
}

}  // namespace ctdump::cli
