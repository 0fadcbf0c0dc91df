// Checks 11-14 of the conformance kit, once per restore mechanism
// (docs/design/third-party-providers.md §8.2), and the two that look at the
// first restored tree: 3 (worker view: the host-root file's content is not
// in it) and 4 (exclusions: nothing excluded came back).
//
// Each mechanism's restore goes into a new container, <vmid>-<mechanism>,
// with its own ID map (the block `base + n * kMapCount` for the n-th
// mechanism), through `ctdump restore ... --mechanism <m>` as a child
// process. Rows:
//
//   11 restore (m)   the command succeeded.
//   12 fidelity (m)  the restored tree, walked as its container sees it,
//                    equals the source's manifest; differences only in the
//                    provider's declared losses for m are LOSS.
//   13 configs (m)   the guest config's restorable keys and the new ID map
//                    are in the new container's config; the firewall config
//                    is byte-equal.
//   14 cleanup (m)   no mount, provider process or run directory of the
//                    restore left.
//
// The restored containers are destroyed after their checks (unless --keep).
#ifndef CTDUMP_PROVIDERTEST_RESTORE_CHECKS_H_
#define CTDUMP_PROVIDERTEST_RESTORE_CHECKS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "providertest/ctdump_child.h"
#include "providertest/scenario.h"
#include "providertest/tree_manifest.h"

namespace ctdump::providertest {

struct RestoreEnv {
  const KitOptions* options = nullptr;  // lxcpath, run_dir, state_dir, keep
  std::string vmid;                     // the kit's source container
  std::string volid;                    // the backup to restore
  std::string source_dir;               // the source container's directory (its config)
  const Manifest* source_manifest = nullptr;
  uint32_t base = 0;  // the source map's host start
  // Mechanisms to restore through; "" is the one restore_get_mechanism
  // answers. `pass_mechanism`: the provider said what it offers, so
  // --mechanism is given.
  std::vector<std::string> mechanisms;
  bool pass_mechanism = false;
  std::map<std::string, std::vector<std::string>> losses;  // declared, per mechanism
  std::vector<std::string> backup_warnings;                // of the full backup (check 4)
  std::string command;                                     // an external storage's command
  ChildOptions child;
  // Check 3, begun with the full backup and ended here; nullopt when it
  // already ended.
  std::optional<RunningCheck> worker_view;
};

// Runs the rows above for each mechanism in order, then ends check 3 (SKIP
// when no restore succeeded) unless it ended already; `end` gets each check
// as it ends. Stops between mechanisms once the kit was interrupted.
void RunRestoreChecks(const RestoreEnv& env, Observer* log, const std::function<void(Check)>& end);

// Mounts at or below `dir` in this mount namespace.
std::vector<std::string> MountsBelow(const std::string& dir);

// Entries under `run_dir` whose name contains `vmid`, but the restores' lock
// files, which stay by design (flock).
std::vector<std::string> RunDirLeftovers(const std::string& run_dir, const std::string& vmid);

}  // namespace ctdump::providertest

#endif  // CTDUMP_PROVIDERTEST_RESTORE_CHECKS_H_
