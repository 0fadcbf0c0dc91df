// Scheduled jobs: <config-dir>/jobs.cfg, PVE's section-config format and key
// names (PVE's /etc/pve/jobs.cfg for `vzdump:` jobs, PBS's verify and gc
// jobs), plus ctdump's own `restore-test:`.
//
//   vzdump: daily
//           schedule 02:00
//           all 1
//           exclude db
//           storage backup
//           mode snapshot
//           mailto admin@example.com
//
//   verify: weekly-verify
//           storage store
//           schedule sat 04:00
//           ignore-verified 1
//           outdated-after 30
//
//   gc: nightly-gc
//           storage store
//           schedule 05:00
//
//   sync: offsite
//           source store
//           target offsite-store
//           schedule 03:00
//           remove-vanished 1
//           transfer-last 7
//
//   restore-test: monthly
//           storage backup
//           vmid web
//           check test -f /etc/hostname
//           schedule monthly
//
// Every job: `schedule` (proxmox-time calendar event; required for vzdump as
// in PVE, else optional: a job without one runs only by `ctdump job run`),
// `enabled` (default 1), `repeat-missed` (default 0), `comment`.
// vzdump: every option of backup::JobOptionTable() by its vzdump name, plus
// mailto, mailnotification, notification-mode. verify: storage, vmid,
// ignore-verified, outdated-after. gc: storage. sync: source, target
// (datastore storage ids, not the same), vmid (list) or all 1 (the default),
// remove-vanished, transfer-last (PBS's names). restore-test: storage, vmid
// (list) or all 1 + exclude, check, timeout.
//
// Parsing is tolerant per section: a broken section (unknown key, bad value,
// bad calendar event, duplicate id, ...) is left out and reported as an
// InvalidArgument error "<file>:<line>: <why, with the offending text>"; the
// other sections are still returned.
#ifndef CTDUMP_JOBS_JOB_CONFIG_H_
#define CTDUMP_JOBS_JOB_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backup/job_options.h"
#include "calendar/calendar_event.h"
#include "ctdump/status.h"

namespace ctdump::jobs {

enum class JobType { kVzdump, kVerify, kGc, kRestoreTest, kSync, kCompact };

// "vzdump", "verify", "gc", "restore-test", "sync", "compact" (the section type).
std::string_view JobTypeName(JobType type);

// vzdump's notification options of a backup job (nullopt / empty: not given).
struct NotifySettings {
  std::vector<std::string> mailto;               // addresses
  std::optional<std::string> mailnotification;   // always | failure
  std::optional<std::string> notification_mode;  // auto | legacy-sendmail | notification-system
};

// Splits a mailto value (comma, semicolon or white space separated) and checks
// each address (no control characters, not starting with '-').
Result<std::vector<std::string>> ParseMailto(const std::string& value);
// Checks mailnotification / notification-mode values.
Status CheckMailnotification(const std::string& value);
Status CheckNotificationMode(const std::string& value);

// A restore test can take this long by default (seconds).
inline constexpr uint32_t kDefaultRestoreTestTimeout = 300;
// verify's ignore-verified without outdated-after: a verification never gets
// outdated; expressed as this many days.
inline constexpr uint32_t kNeverOutdatedDays = 36500;

struct JobConfig {
  JobType type = JobType::kVzdump;
  std::string id;
  std::string file;  // where the section is, for messages
  size_t line = 0;   // its header line
  std::optional<calendar::CalendarEvent> schedule;
  bool enabled = true;
  bool repeat_missed = false;
  std::string comment;
  // The section's key/value lines as written (for `job show`).
  std::vector<std::pair<std::string, std::string>> options;

  // vzdump
  backup::JobOptions backup;
  NotifySettings notify;
  // verify, gc, restore-test
  std::string storage;
  std::vector<std::string> vmids;          // verify: at most one; restore-test, sync: the list
  bool all = false;                        // restore-test: every container under lxcpath
  std::vector<std::string> exclude;        // restore-test with all
  bool ignore_verified = false;            // verify: PBS's ignore-verified
  std::optional<uint32_t> outdated_after;  // verify: PBS's outdated-after (days)
  // verify: ignore-verified 1 -> outdated-after, else kNeverOutdatedDays;
  // nullopt: verify everything.
  std::optional<uint32_t> skip_verified_days;
  std::string check;  // restore-test: command run inside
  uint32_t timeout_s = kDefaultRestoreTestTimeout;
  // sync: from `source` to `target` (storage ids); `vmids` empty: every
  // container of the source.
  std::string source;
  std::string target;
  bool remove_vanished = false;
  std::optional<uint32_t> transfer_last;  // only the newest N backups of each container

  // "<type>-<id>": the state file's name (jobs/<key>.json).
  std::string StateKey() const;
};

struct JobsConfig {
  std::vector<JobConfig> jobs;  // the good sections, in file order
  std::vector<Status> errors;   // one per problem found, in file order
  std::string file;

  const JobConfig* Find(std::string_view id) const;
};

// Parses jobs.cfg text; never fails as a whole (see the file comment).
JobsConfig ParseJobsConfig(std::string_view text, const std::string& filename);

// Reads <config_dir>/jobs.cfg; a missing file is an empty config. A file that
// cannot be read (or is larger than 1 MiB) is an error.
Result<JobsConfig> LoadJobsConfig(const std::string& config_dir);

}  // namespace ctdump::jobs

#endif  // CTDUMP_JOBS_JOB_CONFIG_H_
