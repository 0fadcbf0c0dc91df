// What a running backup has changed and must undo, on disk, so that a ctdump
// killed with SIGKILL (no destructors run) can be repaired later.
//
// One file per container, <run>/state/lxc-<ct>.json, rewritten atomically
// (temp file, fsync, rename) before each risky step: "about to stop", "about
// to freeze", the snapshot paths about to be created, the tmpdir. It is
// removed when the container's backup is done. RepairAbandoned() reads the
// files of dead processes (`ctdump cleanup`, and every job at start) and
// undoes what they say: thaw, start, delete snapshots and copies, remove the
// tmpdir. Mounts need no repair: they lived in the dead job's private mount
// namespace.
#ifndef CTDUMP_BACKUP_JOURNAL_H_
#define CTDUMP_BACKUP_JOURNAL_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::backup {

struct JournalState {
  pid_t pid = 0;
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
  GuestJournal(std::string run_dir, std::string vmid, std::string lxcpath);
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
// were handled. Journals of live processes are left alone.
Result<int> RepairAbandoned(const std::string& run_dir, Observer* log);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_JOURNAL_H_
