// What a running backup has changed and must undo, on disk, so that a ctdump
// killed with SIGKILL (no destructors run) can be repaired later.
//
// One file per container, <state_dir>/journal/lxc-<ct>.json (on disk: it
// outlives a crash or power loss), rewritten atomically and durably (temp
// file, fsync, rename) before each risky step: "about to stop", "about
// to freeze", the snapshot paths about to be created, the tmpdir. It is
// removed when the container's backup is done. RepairAbandoned() reads the
// files of dead processes (`ctdump cleanup`, and every job at start) and
// undoes what they say: thaw, start, delete snapshots and copies, remove the
// tmpdir. Mounts need no repair: they lived in the dead job's private mount
// namespace. A journal of an earlier boot (sys::ClassifyWriter) is abandoned
// whatever process has its pid now, and its container was stopped by the
// reboot: it is neither thawed nor started (starting at boot is
// lxc-autostart's job, for lxc.start.auto containers), only the snapshots,
// copies and tmpdir are removed (`ctdump cleanup` at boot, before lxc.service).
#ifndef CTDUMP_BACKUP_JOURNAL_H_
#define CTDUMP_BACKUP_JOURNAL_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::sys {
struct JournalDirs;  // sys/journal.h
}  // namespace ctdump::sys

namespace ctdump::backup {

struct JournalState {
  pid_t pid = 0;
  std::string boot_id;  // the writer's boot ("" in an older version's journal)
  std::string vmid;
  std::string lxcpath;
  bool stopped = false;                // ctdump stopped the container and has not started it again
  bool frozen = false;                 // ctdump froze (or is about to freeze) the container
  std::vector<std::string> snapshots;  // btrfs snapshots that may exist
  std::vector<std::string> copies;     // reflink copies (directories) that may exist
  std::string tmpdir;                  // the job's scratch directory
};

class GuestJournal {
 public:
  GuestJournal() = default;
  GuestJournal(const sys::JournalDirs& dirs, std::string vmid, std::string lxcpath);
  GuestJournal(const GuestJournal&) = delete;
  GuestJournal& operator=(const GuestJournal&) = delete;
  // Leaves the file: only Clear() says there is nothing left to undo.
  ~GuestJournal() = default;

  // Changes the state and writes it (durably) before returning.
  Status Update(const std::function<void(JournalState&)>& change);
  // Removes the file: nothing left to undo.
  Status Clear();
  bool active() const { return !path_.empty(); }

 private:
  std::string path_;
  JournalState state_;
};

// Repairs what dead ctdump processes left behind; returns how many journals
// were handled. Journals of live processes (of this boot) are left alone.
Result<int> RepairAbandoned(const sys::JournalDirs& dirs, Observer* log);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_JOURNAL_H_
