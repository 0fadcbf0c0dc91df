// Crash journals: what a running operation has changed and must undo, in a
// file that outlives a SIGKILL (no destructors run), so that a later process
// (`ctdump cleanup`, the next job or restore) can undo it.
//
// A journal is one file <state_dir>/journal/<prefix><name>.json (on disk:
// it outlives a crash or power loss, which a tmpfs such as /run does not),
// replaced atomically and durably (temp file, fsync, rename, fsync of the
// directory) before each risky step and removed when nothing is left to
// undo. It records its writer's pid and the boot id: a journal of another
// boot is abandoned whatever process has that pid now. Versions before 0.12
// wrote them to <run_dir>/state/: still read there. What it says (JSON
// text) and how it is undone belong to its user (backup/journal.h,
// restore/restore_journal.h); this is the part they share: the file, finding
// the journals left behind, and the repair loop.
#ifndef CTDUMP_SYS_JOURNAL_H_
#define CTDUMP_SYS_JOURNAL_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::sys {

// Where journals are.
struct JournalDirs {
  std::string dir;         // <state_dir>/journal: written here
  std::string legacy_dir;  // <run_dir>/state: older versions' place, only read
  std::string boot_id;     // this boot's (CurrentBootId()); a test injects one
};

// The journal directories of `state_dir` and `run_dir`, with this boot's id.
JournalDirs MakeJournalDirs(const std::string& state_dir, const std::string& run_dir);

// /proc/sys/kernel/random/boot_id without its newline; "" if unreadable
// (then only the pid tells whether a journal's writer lives).
std::string CurrentBootId();

// Whose a journal is, from the pid and boot id it records.
enum class JournalWriter {
  kRunning,       // this boot, the pid lives: not ours to repair
  kDead,          // this boot, the pid is gone: abandoned
  kPreviousBoot,  // written before a reboot: abandoned; what it stopped or
                  // froze was stopped by the reboot (not thawed, not started)
};
// `journal_boot` "" (an older journal, or no boot id readable): the pid
// decides.
JournalWriter ClassifyWriter(pid_t pid, std::string_view journal_boot, std::string_view boot_id);

// <dir>/<prefix><name>.json
std::string JournalPath(const std::string& dir, std::string_view prefix, std::string_view name);

// Replaces the journal at `path` with `text` (mode 0600; its directory is
// created 0755 if missing); durable when it returns OK. One
// writer per journal: its operation.
Status WriteJournal(const std::string& path, std::string_view text);

// Removes the journal at `path` (a missing one is fine): nothing left to undo.
Status ClearJournal(const std::string& path);

// The journals <dir>/<prefix>*.json, after removing the temp files of
// journal writes killed before their rename (older than ten minutes; a newer
// one may be a live writer's), each removal logged to `log`. A missing
// directory is no journal.
Result<std::vector<std::string>> ListJournals(const std::string& dir, std::string_view prefix,
                                              Observer* log);

// ListJournals of `dirs.dir`, then of `dirs.legacy_dir`.
Result<std::vector<std::string>> ListJournals(const JournalDirs& dirs, std::string_view prefix,
                                              Observer* log);

// What a repair callback did with one journal.
enum class JournalRepair {
  kRepaired,  // undone (or nothing to undo): the journal is removed
  kSkipped,   // not this process's to repair now (its writer lives, it is
              // damaged, another process holds it): the journal stays
};

// For each of `paths` that can be read (a vanished one is skipped), calls
// `repair(path, text)`; removes the journals it repaired. An error keeps that
// journal, the others are still handled, and the first error is returned;
// otherwise the number repaired.
Result<int> RepairJournals(
    const std::vector<std::string>& paths,
    const std::function<Result<JournalRepair>(const std::string& path, const std::string& text)>&
        repair);

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_JOURNAL_H_
