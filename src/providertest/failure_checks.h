// Checks 16-19 of the conformance kit, the failure paths
// (docs/design/third-party-providers.md §8.2, §8.4): a provider that crashes,
// hangs, writes garbage, and a job aborted by SIGTERM, each faked by the
// fault shim (fault_shim.h) in front of the real provider, with no test hook
// in the provider itself.
//
// The kit writes a copy of the storage's section into a private config dir
// (/var/tmp/ctdump-pt-<pid>-fault.XXXXXX/etc, 0700; ctdump.conf and
// notifications.cfg copied, priv/ linked) whose `command` is a wrapper
// script (0755, in the 0755 directory above it, so the worker instance, the
// container's root, can run it) exec'ing `<ctdump> __provider-fault ... --
// <the real command>`. Every other key stays, so the copy is the same storage
// to the provider; the kit's `list` and its normal backups use the real
// configuration. Rows, each PASS or FAIL with a reason:
//
//   16 provider crash (backup_container | backup_cleanup | restore_container_init)
//      the command fails naming the storage and the method; backup_cleanup
//      with success false reached the provider; nothing new listed; the next
//      normal backup works (no stale lock); a crashed restore leaves no
//      container.
//   17 hang: backup_container unanswered with `timeout 20`: fails naming
//      both within timeout + 15 s; nothing new listed; no process of the
//      provider (nor of the shim) left.
//   18 garbage (list_backups | backup_init): fails naming the storage; a
//      backup's later calls went to a new main instance (a second hello,
//      backup_cleanup with success false); the next normal command works.
//   19 abort: SIGTERM to the kit's `ctdump backup` once backup_container
//      reached the (hanging) worker: the job fails within 15 s; no process
//      left; nothing new listed; the next normal backup works.
//
// Each fault fires once per run (the shim's --once): a new main instance
// started after it gets the real provider.
#ifndef CTDUMP_PROVIDERTEST_FAILURE_CHECKS_H_
#define CTDUMP_PROVIDERTEST_FAILURE_CHECKS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ctdump/observer.h"
#include "providertest/ctdump_child.h"
#include "providertest/fixture.h"
#include "providertest/scenario.h"

namespace ctdump::providertest {

struct FailureEnv {
  // The storage's section: type `provider`, its id and keys in file order.
  std::string storage_type, storage_id;
  std::vector<std::pair<std::string, std::string>> storage_options;
  std::string vmid;                      // the kit's source container
  std::vector<std::string> backup_args;  // `backup <vmid> --storage <id> ...`
  std::string restore_volid;             // a backup of it, for the crashing restore
  uint32_t restore_base = 0;             // host id where that restore's ID map starts
  std::string exe;                       // the ctdump binary, an absolute path
  ChildOptions child;                    // how the kit runs ctdump (its own config dir)
  KitPaths paths;
};

// Runs the rows above in order; `end` gets each check as it ends.
void RunFailureChecks(const FailureEnv& env, Observer* log, const std::function<void(Check)>& end);

// Where the failure checks make their fault directories,
// <kFaultDirParent>/ctdump-pt-<pid>-fault.XXXXXX.
inline constexpr char kFaultDirParent[] = "/var/tmp";

// Removes the fault directories under `parent` of kits no longer running (a
// SIGKILLed kit's: its destructor never ran), logging each; returns how
// many. The failure checks run it before making their own; `ctdump
// cleanup` runs it too.
size_t RemoveStaleFaultDirs(const std::string& parent, Observer* log);

// Processes whose command line contains one of `needles` (non-empty), as
// "<pid>: <command line>"; zombies excluded.
std::vector<std::string> ProcessesMatching(const std::vector<std::string>& needles);

}  // namespace ctdump::providertest

#endif  // CTDUMP_PROVIDERTEST_FAILURE_CHECKS_H_
