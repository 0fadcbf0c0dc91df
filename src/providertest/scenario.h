// The provider conformance kit, `ctdump provider-test <storage>`
// (docs/design/third-party-providers.md §8): a scenario of checks against one
// configured storage, each PASS, FAIL, SKIP or LOSS (a difference the
// provider declared, hello's restore-losses) with a reason.
//
// The kit prepares a throw-away container (fixture.h) and drives the real
// commands as child processes of the same binary (ctdump_child.h): backup in
// stop mode, list, notes, protect, prune, restore (per offered mechanism,
// into new containers with other ID maps), delete. Only hello and the
// restore mechanisms and losses are read in-process, from the provider the
// registry opens. It touches nothing of the storage but the backups of its
// own container, ctdump-pt-<pid>, and deletes them at the end (unless
// --keep); its containers are removed on every exit path, and `ctdump
// cleanup` removes them after a SIGKILL.
//
// The table (kChecks): ids 1-15 and 20 are run here; 16-19, the failure
// paths through the fault shim, in failure_checks.h (external providers
// only; skipped for the built-in storages, which have no process to fault).
// The core never prints: checks and log lines go to the caller.
#ifndef CTDUMP_PROVIDERTEST_SCENARIO_H_
#define CTDUMP_PROVIDERTEST_SCENARIO_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::providertest {

enum class Outcome { kPass, kFail, kSkip, kLoss };

// "pass", "fail", "skip", "loss".
const char* OutcomeName(Outcome o);

struct CheckSpec {
  int id;
  const char* group;
  const char* name;
};

// §8.2, in table order.
inline constexpr CheckSpec kChecks[] = {
    {1, "handshake", "hello"},      {2, "backup", "full backup"},
    {3, "backup", "worker view"},   {4, "backup", "exclusions"},
    {5, "backup", "bandwidth"},     {6, "backup", "incremental"},
    {7, "list", "listing"},         {8, "attributes", "notes"},
    {9, "attributes", "protected"}, {10, "prune", "retention"},
    {11, "restore", "restore"},     {12, "restore", "fidelity"},
    {13, "restore", "configs"},     {14, "restore", "cleanup"},
    {15, "delete", "delete"},       {16, "failure", "provider crash"},
    {17, "failure", "hang"},        {18, "failure", "garbage"},
    {19, "failure", "abort"},       {20, "hygiene", "leftovers"},
};

struct Check {
  int id = 0;
  std::string group;
  std::string name;  // with the mechanism for per-mechanism checks: "fidelity (tar)"
  Outcome outcome = Outcome::kSkip;
  double seconds = 0;
  std::string reason;
  std::vector<std::string> details;  // at most kMaxDetails
};

inline constexpr size_t kMaxDetails = 20;

// A check being run, for its row's name and time.
struct RunningCheck {
  int id = 0;
  std::string name;
  std::chrono::steady_clock::time_point start;
};

// Starts check `id`; `suffix` names the row of a per-mechanism or per-method
// check: "fidelity (tar)".
RunningCheck BeginCheck(int id, const std::string& suffix = "");

// The ended check: its group, the time since BeginCheck, at most
// kMaxDetails details.
Check EndCheck(const RunningCheck& r, Outcome outcome, std::string reason,
               std::vector<std::string> details = {});

struct KitOptions {
  std::string storage;
  std::string exe = "/proc/self/exe";  // the ctdump binary the children run
  std::string lxcpath, config_dir, run_dir, state_dir;
  // Restore mechanisms to test ("tar", "directory"); empty: every one the
  // provider offers.
  std::vector<std::string> mechanisms;
  bool keep = false;                   // keep containers and backups
  std::optional<uint32_t> idmap_base;  // the source map's host start
  unsigned timeout_s = 600;            // per child command
  bool bwlimit_check = false;          // run check 5
  bool failure_checks = true;          // run checks 16-19 (--skip failure: false)
};

struct KitReport {
  std::string storage;
  std::string provider;               // the provider's name
  std::vector<std::string> features;  // of the ones the kit knows
  std::vector<Check> checks;          // in the order they ended
  int passed = 0, failed = 0, skipped = 0, losses = 0;
};

// Runs the scenario. `on_check` is called as each check ends; `log` gets
// the kit's own lines (preparation, cleanup). Errors only when the kit
// could not prepare its container (nothing of the storage touched then).
Result<KitReport> RunProviderTest(const KitOptions& options, Observer* log,
                                  const std::function<void(const Check&)>& on_check);

}  // namespace ctdump::providertest

#endif  // CTDUMP_PROVIDERTEST_SCENARIO_H_
