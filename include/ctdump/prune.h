// Backup retention ("prune-backups") with Proxmox VE / Proxmox Backup Server
// semantics, used by `ctdump prune` and after each backup job.
//
// Concepts. A backup group is the list of backups of one guest on one
// storage. PruneOptions says how many backups to keep; MarkBackups() decides,
// for one group, which backups to keep and which to remove. Both are pure: no
// I/O, nothing printed, no deletion; the caller deletes what is kRemove.
//
// The rule, exactly as PVE::Storage::prune_mark_backup_group (pve-storage
// src/PVE/Storage.pm, `$prune_mark`) and compute_prune_info / mark_selections
// (proxmox-backup pbs-datastore/src/prune.rs) implement it:
//
//   1. If keep-all is set, or no keep-* option is above 0, every backup is
//      kept (protected ones are reported kProtected).
//   2. Sort the group newest first (equal ctimes keep their input order).
//      Protected backups are decided up front as kProtected: never removed,
//      never counted towards any keep-* limit, and they do not cover a period.
//   3. Run one pass per option with a count above 0, in the order keep-last,
//      keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly. Each
//      option maps a backup's ctime to a period id: keep-last the ctime itself,
//      the others the LOCAL calendar hour / day / ISO 8601 week (ISO
//      week-year, so 2021-01-01 is in 2020-W53) / month / year. A pass:
//        a. `covered` := the periods of all backups kept by earlier passes.
//        b. Walk the backups newest first, skipping every backup that is
//           already decided (kept, removed, protected) and every backup whose
//           period is in `covered` (left undecided, a later pass may keep it;
//           a covered period does NOT consume this option's count).
//        c. The first backup seen of a new period is kept, unless this pass
//           already selected `count` periods, in which case the pass stops.
//           Any further backup of a period this pass selected is decided
//           kRemove right away, so later passes never consider it either
//           (this matters where periods do not nest: a backup removed by
//           keep-weekly in the week of Jan 31 / Feb 1 is not kept by
//           keep-monthly for January).
//   4. Whatever is still undecided is kRemove.
//
// Consequences: each option keeps at most its count of backups, so at most
// the sum of the counts are kept, and the newest unprotected backup is always
// kept. keep-last uses the ctime as its period, as PVE does, so of several
// backups with the same ctime only the first (input order) is kept by it.
// Periods with no backup count for nothing ("days without backups do not
// count"). Wall-clock periods follow DST: the repeated hour when clocks go back
// is one hourly period, like PVE's localtime() and PBS's strftime_local.
//
// Time zone: local time is that of the process TZ; MarkBackups() calls
// tzset() itself, so a change of TZ in the environment takes effect on the
// next call.
//
// Thread-safety: all functions may be called concurrently, as long as no
// thread changes TZ at the same time.
#ifndef CTDUMP_PRUNE_H_
#define CTDUMP_PRUNE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump {

// The prune-backups property of storage.cfg / vzdump.conf / `--prune-backups`.
// nullopt (and 0, which PVE treats as disabled) means "option not set".
struct PruneOptions {
  std::optional<uint32_t> keep_last;     // keep the N newest backups
  std::optional<uint32_t> keep_hourly;   // newest backup of each of N hours
  std::optional<uint32_t> keep_daily;    // ... of N days
  std::optional<uint32_t> keep_weekly;   // ... of N ISO weeks (Monday-Sunday)
  std::optional<uint32_t> keep_monthly;  // ... of N months
  std::optional<uint32_t> keep_yearly;   // ... of N years
  bool keep_all = false;                 // keep everything; default off

  // True for keep-all, or when no keep-* option is above 0 (PVE: no option
  // at all means keep-all).
  bool KeepsEverything() const;

  // The text of vzdump's "prune older backups with retention: ..." line:
  // the options above 0 as "key=N", joined by ", ", keys sorted
  // alphabetically as VZDump.pm does (`sort keys`), e.g.
  // "keep-daily=7, keep-last=3"; "keep-all=1" when KeepsEverything().
  std::string ToString() const;

  bool operator==(const PruneOptions&) const = default;
};

// Parses a PVE prune-backups property string: comma-separated key=value
// items, e.g. "keep-last=3,keep-daily=7". Blank space around an item is
// ignored ("keep-last=3, keep-daily=7") and empty items are skipped, so ""
// sets nothing. Keys: keep-last, keep-hourly, keep-daily, keep-weekly,
// keep-monthly, keep-yearly (decimal integers 0..4294967295; 0 stores
// nullopt) and keep-all (1/0, true/false, yes/no, on/off, any case).
// "keep-all=0" alone sets nothing (KeepsEverything() is still true, as in
// PVE). Fails with InvalidArgument naming the key (or item) for: an item
// without '=', an unknown key, a value that is not a non-negative integer
// (or boolean for keep-all), a duplicate key, and keep-all=1 together with
// a keep-* option above 0 ("keep-all=1,keep-last=0" is accepted, as in PVE).
Result<PruneOptions> ParsePruneOptions(std::string_view text);

enum class PruneMark { kKeep, kRemove, kProtected };

// "keep", "remove", "protected" (PVE's mark names).
std::string_view PruneMarkName(PruneMark mark);

// One backup of a group, as MarkBackups() needs it (see BackupEntry).
struct PruneItem {
  int64_t ctime = 0;  // creation time, seconds since the epoch
  bool is_protected = false;
};

// Marks one backup group with the rule in the file comment. Returns one mark
// per item, in the order of `items` (which need not be sorted). Protected
// items are always kProtected; no item is kRemove when
// opts.KeepsEverything(). Never fails: a ctime that local time cannot
// represent is its own period for every option.
std::vector<PruneMark> MarkBackups(const std::vector<PruneItem>& items, const PruneOptions& opts);

}  // namespace ctdump

#endif  // CTDUMP_PRUNE_H_
