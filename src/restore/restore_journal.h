// What a running restore has created, on disk, so that a restore killed with
// SIGKILL (no destructors run) can be undone later.
//
// One file per target container, <state_dir>/journal/restore-<name>.json (on
// disk: it outlives a crash or power loss), rewritten atomically and durably
// (temp file, fsync, rename) before the restore creates anything:
// the container's directory, its root file system directory or its btrfs
// subvolume. The restore removes it when it commits (the config is written)
// or after it has removed what it made itself. RepairAbandonedRestores()
// (`ctdump cleanup`, and a later restore of the same name) removes what the
// journals of dead processes list, unless the container has a config by then
// (somebody made it since, or the restore wrote it, after syncing the root
// file system, just before it was killed): then only the journal goes. A
// journal of an earlier boot is abandoned whatever process has its pid now
// (sys::ClassifyWriter); `ctdump cleanup` runs at boot before lxc.service, so
// a restore test's container (which has a config) is removed, config first,
// before lxc-autostart could start it.
#ifndef CTDUMP_RESTORE_RESTORE_JOURNAL_H_
#define CTDUMP_RESTORE_RESTORE_JOURNAL_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::sys {
struct JournalDirs;  // sys/journal.h
}  // namespace ctdump::sys

namespace ctdump::restore {

struct RestoreJournalState {
  pid_t pid = 0;
  std::string boot_id;            // the writer's boot ("" in an older version's journal)
  std::string name;               // the container being restored
  std::string ct_dir;             // <lxcpath>/<name>: its config marks a finished restore
  std::vector<std::string> dirs;  // directories the restore creates, in order
  std::string subvolume;          // a btrfs subvolume it creates
  // A restore test's throw-away container (test_restore.h): the journal
  // stays after the restore until the test has destroyed the container, and
  // a repair stops the container and removes it even though it has a config.
  bool throwaway = false;
};

class RestoreJournal {
 public:
  RestoreJournal(const sys::JournalDirs& dirs, std::string name, std::string ct_dir,
                 bool throwaway = false);
  RestoreJournal(const RestoreJournal&) = delete;
  RestoreJournal& operator=(const RestoreJournal&) = delete;
  // Leaves the file: only Clear() says there is nothing left to undo.
  ~RestoreJournal() = default;

  // Record a path before creating it.
  Status WillCreateDir(const std::string& dir);
  Status WillCreateSubvolume(const std::string& subvolume);
  // Removes the file.
  Status Clear();

 private:
  Status Write();

  std::string path_;
  RestoreJournalState state_;
};

// Removes the journal of container `name` (a restore test, once it has
// destroyed its throw-away container). A missing journal is OK.
Status ClearRestoreJournal(const sys::JournalDirs& dirs, const std::string& name);

// The lock a restore of container `name` holds from start to end.
std::string RestoreLockPath(const std::string& run_dir, const std::string& name);

// Removes what dead restores left (of container `only_name`, whose restore
// lock the caller holds; or of all, each under its restore lock, when
// empty); returns how many journals were handled. Journals of live
// processes (of this boot), and of containers being restored, are left
// alone. `run_dir` has the restore locks.
Result<int> RepairAbandonedRestores(const sys::JournalDirs& dirs, const std::string& run_dir,
                                    Observer* log, const std::string& only_name = "");

}  // namespace ctdump::restore

#endif  // CTDUMP_RESTORE_RESTORE_JOURNAL_H_
