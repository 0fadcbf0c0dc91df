// The notification of a job (vzdump's semantics, PVE 8.2+): what it says and
// where it goes.
//
// Where: notification-mode auto (the default) means legacy-sendmail when
// mailto is set, else the notification system (notifications.cfg's
// matchers). legacy-sendmail mails the mailto addresses through sendmail,
// and with mailnotification failure only when the job failed; without mailto
// nothing is sent. The notification system ignores mailnotification (the
// matchers decide). Options come from the command line or the job section,
// else ctdump.conf.
//
// Sending never changes a job's result: problems are logged as warnings.
#ifndef CTDUMP_JOBS_JOB_NOTIFICATION_H_
#define CTDUMP_JOBS_JOB_NOTIFICATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "backup/job.h"
#include "ctdump/observer.h"
#include "ctdump/vzdump_conf.h"
#include "jobs/job_config.h"
#include "notify/notify.h"

namespace ctdump::jobs {

// `given` (command line / job section), each field not given there taken
// from ctdump.conf (`node`); errors name ctdump.conf's line.
Result<NotifySettings> MergeNotifySettings(const NotifySettings& given, const VzdumpConf& node);

enum class NotifyRoute { kNone, kSendmail, kNotificationSystem };
NotifyRoute ChooseRoute(const NotifySettings& settings, bool failed);

// The short host name (up to the first dot), PVE's nodename.
std::string ShortHostname();

// vzdump's duration: "5s", "2m 5s", "1h 2m 5s".
std::string FormatDuration(int64_t seconds);

// vzdump's summary table (VMID, Name, Status, Time, Size, Filename) with the
// total time and size.
std::string BackupSummary(const backup::JobResult& result, int64_t total_seconds);

// What a backup job failed with: the job's error, each failing container's
// error, the selection warnings; "" when it succeeded.
std::string BackupErrors(const backup::JobResult& result);

// The notification of a backup job: severity info / error, type vzdump,
// title "vzdump backup status (<host>): backup successful|backup failed",
// message: the errors (on failure), the summary, then the job's log.
// `job_id` empty: no job-id field (a command-line run).
notify::Notification BackupNotification(const backup::JobResult& result, int64_t total_seconds,
                                        const std::vector<std::string>& log,
                                        const std::string& hostname, const std::string& job_id,
                                        int64_t now);

// The notification of a verify / gc / sync / restore-test job or of the scheduler
// (type "system"): `title`, message `error` (when failed) then the log.
notify::Notification TaskNotification(const std::string& type, bool ok, const std::string& title,
                                      const std::string& error, const std::vector<std::string>& log,
                                      const std::string& hostname, const std::string& job_id,
                                      int64_t now);

// Loads <config_dir>/notifications.cfg to report its errors early (`job
// list`, the scheduler's start); OK when it is fine or missing. `warnings`
// (may be null) gets the loaded config's info lines (e.g. the secrets file
// readable by others, no sendmail for the default target).
Status CheckNotifyConfig(const std::string& config_dir,
                         std::vector<std::string>* warnings = nullptr);

// Sends `n` by `settings` (ChooseRoute with failed = severity error):
// SendMail or the notification system of <config_dir>/notifications.cfg.
// With `fallback_to_default`, a notifications.cfg that does not load is
// replaced by notify::DefaultConfig(), PVE's built-in mail-to-root (for the scheduler's
// notification about configuration errors, which may be errors of notifications.cfg itself). Logs
// what it did and any problem through `observer`; never fails.
void SendNotification(const std::string& config_dir, const NotifySettings& settings,
                      const notify::Notification& n, Observer* observer,
                      bool fallback_to_default = false);

}  // namespace ctdump::jobs

#endif  // CTDUMP_JOBS_JOB_NOTIFICATION_H_
