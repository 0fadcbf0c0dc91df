// Restore tests (`ctdump restore-test <storage>:<volname>`): proof that a
// backup restores and boots, without touching the backed-up container.
//
//   restore (RunRestore: every provider, both mechanisms) into a throw-away
//   container ctdump-rt-<pid>-<n> under the lxcpath, unprivileged, with an ID
//   map of root's subordinate ids that differs from the backed-up one, no
//   network (lxc.net.0.type = empty), no autostart
//   -> compare: the backup is read once more as a restore reads it and every
//   entry is checked against the restored root file system (type, mode,
//   owner shifted by the new map, size, symlink target), the content of a
//   bounded sample of regular files byte for byte (before the start: a
//   running container changes its own files)
//   -> start -> init ready (RUNNING, init's pid, a command runs through
//   attach) -> check command inside (default /bin/true) -> stop -> destroy
//   (config directory and root file system).
//
// Nothing is left behind: the restore journal (restore_journal.h) lists the
// throw-away container from before it is created until it is destroyed, so
// a test killed with SIGKILL is removed by `ctdump cleanup` (the container
// stopped first); SIGINT/SIGTERM end the test at the next step, which then
// destroys the container itself.
#ifndef CTDUMP_RESTORE_TEST_RESTORE_H_
#define CTDUMP_RESTORE_TEST_RESTORE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/idmap.h"
#include "ctdump/observer.h"
#include "ctdump/status.h"
#include "restore/restore.h"
#include "restore/restore_compare.h"
#include "restore/subordinate_ids.h"

namespace ctdump::restore {

struct RestoreTestOptions {
  std::string volid;         // <storage>:<volname>
  std::string check;         // run inside with /bin/sh -c; empty: /bin/true
  uint32_t timeout_s = 300;  // for each of start, init and the check command
  // The sample of regular files whose content is compared.
  uint32_t sample_files = 64;
  uint64_t sample_bytes = uint64_t{64} << 20;
};

// One phase: "restore", "compare", "start", "init", "check", "destroy".
struct PhaseTime {
  std::string phase;
  double seconds = 0;
  bool ok = true;
};

struct RestoreTestResult {
  bool passed = false;
  std::string volid;
  std::string container;     // the throw-away container's name
  std::string failed_phase;  // empty when passed
  std::string error;         // what failed
  std::vector<PhaseTime> phases;
  double total_seconds = 0;
  std::optional<int> check_exit;  // the check command's exit code
  std::string check_output;       // its stdout+stderr (bounded)
  CompareReport compare;
  std::string idmap;     // the map the container ran with
  bool cleaned = false;  // the container and its root file system are gone
};

// Runs the test. Errors only for what stops it before anything is created
// (a malformed volume id); every later failure is a result with passed
// false. A cancelled test (SIGINT/SIGTERM) is a failed result whose error
// says so.
Result<RestoreTestResult> RunRestoreTest(const RestoreTestOptions& options, const Paths& paths,
                                         Observer* observer);

// --- The pieces, for tests --------------------------------------------------

// A free block of `count` subordinate ids in `delegated` that overlaps none
// of `taken` (host ranges of the backed-up map and of other containers);
// nullopt if there is none. Blocks are tried from each range's start in
// steps of `count`.
std::optional<uint64_t> PickFreeIdBlock(const std::vector<IdRange>& delegated,
                                        const std::vector<IdRange>& taken, uint64_t count);

// The host ranges of the ID maps (lxc.idmap) of the containers under
// `lxcpath`, by type.
void TakenByContainers(const std::string& lxcpath, std::vector<IdRange>* uids,
                       std::vector<IdRange>* gids);

// The host ranges of one type ('u' or 'g') of `map`.
std::vector<IdRange> HostRanges(const IdMap& map, char type);

// Rewrites a restored LXC config for the test: no network (every
// lxc.net.* key dropped, lxc.net.0.type = empty), no autostart.
std::string IsolateConfig(const std::string& lxc_config);

}  // namespace ctdump::restore

#endif  // CTDUMP_RESTORE_TEST_RESTORE_H_
