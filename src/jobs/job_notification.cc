#include "jobs/job_notification.h"

#include <fmt/format.h>
#include <unistd.h>

#include "backup/task_log.h"
#include "ctdump/units.h"

namespace ctdump::jobs {
namespace {

// The log in a message is cut to its last lines beyond this many.
constexpr size_t kMaxLogLines = 1000;

std::string LogText(const std::vector<std::string>& log) {
  std::string out;
  size_t first = log.size() > kMaxLogLines ? log.size() - kMaxLogLines : 0;
  if (first > 0) out += fmt::format("({} earlier lines left out)\n", first);
  for (size_t i = first; i < log.size(); ++i) out += log[i] + "\n";
  return out;
}

}  // namespace

Result<NotifySettings> MergeNotifySettings(const NotifySettings& given, const VzdumpConf& node) {
  NotifySettings s = given;
  if (s.mailto.empty()) {
    if (auto v = node.Get("mailto"); v && !v->empty()) {
      auto m = ParseMailto(*v);
      if (!m.ok()) return m.status().WithContext(node.Where("mailto"));
      s.mailto = *m;
    }
  }
  if (!s.mailnotification) {
    if (auto v = node.Get("mailnotification")) {
      Status st = CheckMailnotification(*v);
      if (!st.ok()) return st.WithContext(node.Where("mailnotification"));
      s.mailnotification = *v;
    }
  }
  if (!s.notification_mode) {
    if (auto v = node.Get("notification-mode")) {
      Status st = CheckNotificationMode(*v);
      if (!st.ok()) return st.WithContext(node.Where("notification-mode"));
      s.notification_mode = *v;
    }
  }
  return s;
}

NotifyRoute ChooseRoute(const NotifySettings& settings, bool failed) {
  std::string mode = settings.notification_mode.value_or("auto");
  if (mode == "auto") mode = settings.mailto.empty() ? "notification-system" : "legacy-sendmail";
  if (mode == "notification-system") return NotifyRoute::kNotificationSystem;
  if (settings.mailto.empty()) return NotifyRoute::kNone;
  if (settings.mailnotification.value_or("always") == "failure" && !failed)
    return NotifyRoute::kNone;
  return NotifyRoute::kSendmail;
}

std::string ShortHostname() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  std::string name = host;
  return name.substr(0, name.find('.'));
}

std::string FormatDuration(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  int64_t h = seconds / 3600, m = seconds % 3600 / 60, s = seconds % 60;
  if (h > 0) return fmt::format("{}h {}m {}s", h, m, s);
  if (m > 0) return fmt::format("{}m {}s", m, s);
  return fmt::format("{}s", s);
}

std::string BackupSummary(const backup::JobResult& result, int64_t total_seconds) {
  std::string out = fmt::format("{:<16} {:<16} {:<8} {:>10} {:>12}  {}\n", "VMID", "Name", "Status",
                                "Time", "Size", "Filename");
  uint64_t total_size = 0;
  for (const auto& g : result.guests) {
    if (g.size) total_size += *g.size;
    // Names, archives and messages may carry text from inside a container
    // (a path): escaped as in the task log, so one entry stays one line.
    std::string vmid = backup::EscapeControl(g.vmid);
    out += fmt::format("{:<16} {:<16} {:<8} {:>10} {:>12}  {}\n", vmid, vmid,
                       g.status.ok() ? "ok" : "err", FormatDuration(g.seconds),
                       g.size ? HumanBytes(*g.size) : "-",
                       g.archive.empty() ? "-" : backup::EscapeControl(g.archive));
  }
  out += fmt::format("\nTotal running time: {}\nTotal size: {}\n", FormatDuration(total_seconds),
                     HumanBytes(total_size));
  return out;
}

std::string BackupErrors(const backup::JobResult& result) {
  std::string out;
  // Escaped as in the task log: an error may quote a path from inside a
  // container, which must not forge lines of the message.
  if (!result.status.ok()) out += "job: " + backup::EscapeControl(result.status.message()) + "\n";
  for (const auto& g : result.guests)
    if (!g.status.ok())
      out +=
          backup::EscapeControl(g.vmid) + ": " + backup::EscapeControl(g.status.message()) + "\n";
  for (const auto& w : result.selection_warnings)
    out += "selection: " + backup::EscapeControl(w) + "\n";
  return out;
}

notify::Notification BackupNotification(const backup::JobResult& result, int64_t total_seconds,
                                        const std::vector<std::string>& log,
                                        const std::string& hostname, const std::string& job_id,
                                        int64_t now) {
  notify::Notification n;
  bool ok = result.ok();
  n.severity = ok ? notify::Severity::kInfo : notify::Severity::kError;
  n.title =
      fmt::format("vzdump backup status ({}): backup {}", hostname, ok ? "successful" : "failed");
  n.timestamp = now;
  std::string msg;
  if (!ok) msg += "Backup job failed:\n" + BackupErrors(result) + "\n";
  msg += "Details\n=======\n" + BackupSummary(result, total_seconds);
  msg += "\nLogs\n====\n" + LogText(log);
  n.message = std::move(msg);
  n.fields["type"] = "vzdump";
  n.fields["hostname"] = hostname;
  if (!job_id.empty()) n.fields["job-id"] = job_id;
  return n;
}

notify::Notification TaskNotification(const std::string& type, bool ok, const std::string& title,
                                      const std::string& error, const std::vector<std::string>& log,
                                      const std::string& hostname, const std::string& job_id,
                                      int64_t now) {
  notify::Notification n;
  n.severity = ok ? notify::Severity::kInfo : notify::Severity::kError;
  n.title = title;
  n.timestamp = now;
  std::string msg;
  if (!ok && !error.empty()) msg += backup::EscapeControl(error) + "\n\n";
  if (!log.empty()) msg += "Logs\n====\n" + LogText(log);
  n.message = std::move(msg);
  n.fields["type"] = type;
  n.fields["hostname"] = hostname;
  if (!job_id.empty()) n.fields["job-id"] = job_id;
  return n;
}

Status CheckNotifyConfig(const std::string& config_dir, std::vector<std::string>* warnings) {
  auto config = notify::LoadConfig(config_dir);
  if (config.ok() && warnings) *warnings = config->info;
  return config.status();
}

void SendNotification(const std::string& config_dir, const NotifySettings& settings,
                      const notify::Notification& n, Observer* observer, bool fallback_to_default) {
  bool failed = n.severity == notify::Severity::kError;
  switch (ChooseRoute(settings, failed)) {
    case NotifyRoute::kNone:
      return;
    case NotifyRoute::kSendmail: {
      Status s = notify::SendMail(settings.mailto, n.title, n.message, observer);
      std::string to;
      for (const auto& m : settings.mailto) to += (to.empty() ? "" : ",") + m;
      if (!s.ok())
        observer->Log(LogLevel::kWarn, fmt::format("sending the notification mail to {} failed: {}",
                                                   to, s.message()));
      else
        observer->Log(LogLevel::kInfo, "notification mail sent to " + to);
      return;
    }
    case NotifyRoute::kNotificationSystem: {
      auto config = notify::LoadConfig(config_dir);
      if (!config.ok() && fallback_to_default) {
        observer->Log(LogLevel::kWarn, "notifications.cfg cannot be used (" +
                                           config.status().message() +
                                           "): sending through the built-in default "
                                           "(mail-to-root) instead");
        config = notify::DefaultConfig();
      }
      if (!config.ok()) {
        observer->Log(LogLevel::kWarn, "no notification sent: " + config.status().message());
        return;
      }
      std::vector<std::string> targets = notify::MatchingTargets(*config, n);
      if (targets.empty()) return;
      size_t sent = notify::Dispatch(*config, n, observer);
      std::string names;
      for (const auto& t : targets) names += (names.empty() ? "" : ", ") + t;
      observer->Log(LogLevel::kInfo, fmt::format("notification sent to {} of {} target(s): {}",
                                                 sent, targets.size(), names));
      return;
    }
  }
}

}  // namespace ctdump::jobs
