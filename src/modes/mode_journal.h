// What a mode records before each risky step, so that a ctdump killed with
// SIGKILL (no destructors run) can be repaired later: the job keeps it on
// disk (backup/journal.h) and undoes it at the next start or on `ctdump
// cleanup`. Each call returns once the record is durable; a failed record
// fails the step that was about to happen.
#ifndef CTDUMP_MODES_MODE_JOURNAL_H_
#define CTDUMP_MODES_MODE_JOURNAL_H_

#include <string>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::modes {

class ModeJournal {
 public:
  virtual ~ModeJournal() = default;
  // true: ctdump is about to stop the container; false: it started it again.
  virtual Status SetStopped(bool stopped) = 0;
  // true: ctdump is about to freeze the container; false: it thawed it.
  virtual Status SetFrozen(bool frozen) = 0;
  // About to freeze the container (when `freezing`) and create these btrfs
  // snapshots and reflink copies (directories), recorded in one write so
  // the freeze window holds no fsync.
  virtual Status AddSnapshots(bool freezing, const std::vector<std::string>& snapshots,
                              const std::vector<std::string>& copies) = 0;
  // The snapshots and copies are gone.
  virtual Status ClearSnapshots() = 0;
};

}  // namespace ctdump::modes

#endif  // CTDUMP_MODES_MODE_JOURNAL_H_
