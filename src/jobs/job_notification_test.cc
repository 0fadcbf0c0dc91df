#include "jobs/job_notification.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "sys/file.h"

namespace ctdump::jobs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Lines : public Observer {
 public:
  void Log(LogLevel, std::string_view m) noexcept override { lines.emplace_back(m); }
  std::string All() const {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
  std::vector<std::string> lines;
};

// A config dir and a sendmail that records its mail in <dir>/mail.
struct MailDir {
  MailDir() {
    dir = *sys::MakeTempDir("/tmp/job_notification_test.");
    std::string sendmail = dir + "/sendmail";
    EXPECT_TRUE(sys::WriteFileAtomic(sendmail, "#!/bin/sh\ncat > " + dir + "/mail\n", 0755).ok());
    ::setenv("CTDUMP_SENDMAIL", sendmail.c_str(), 1);
  }
  ~MailDir() { ::unsetenv("CTDUMP_SENDMAIL"); }
  std::string Mail() const {
    auto text = sys::ReadRegularFile(dir + "/mail", 1 << 20);
    return text.ok() ? *text : "";
  }
  std::string dir;
};

NotifySettings Settings(std::vector<std::string> mailto,
                        std::optional<std::string> mailnotification,
                        std::optional<std::string> mode) {
  NotifySettings s;
  s.mailto = std::move(mailto);
  s.mailnotification = std::move(mailnotification);
  s.notification_mode = std::move(mode);
  return s;
}

TEST(JobNotificationTest, RouteAsVzdump) {
  struct {
    const char* name;
    NotifySettings s;
    bool failed;
    NotifyRoute route;
  } cases[] = {
      {"AutoWithoutMailto", Settings({}, std::nullopt, std::nullopt), false,
       NotifyRoute::kNotificationSystem},
      {"AutoWithMailto", Settings({"a@b"}, std::nullopt, std::nullopt), false,
       NotifyRoute::kSendmail},
      {"AutoMailOnFailureOnlySuccess", Settings({"a@b"}, "failure", "auto"), false,
       NotifyRoute::kNone},
      {"AutoMailOnFailureOnlyFailed", Settings({"a@b"}, "failure", "auto"), true,
       NotifyRoute::kSendmail},
      {"LegacyWithoutMailto", Settings({}, "always", "legacy-sendmail"), true, NotifyRoute::kNone},
      {"SystemIgnoresMailnotification", Settings({"a@b"}, "failure", "notification-system"), false,
       NotifyRoute::kNotificationSystem},
  };
  for (const auto& c : cases) EXPECT_EQ(ChooseRoute(c.s, c.failed), c.route) << c.name;
}

TEST(JobNotificationTest, MergeTakesCtdumpConfForWhatIsNotGiven) {
  auto node = ParseVzdumpConf(
      "mailto: root, admin@example.com\nmailnotification: failure\nnotification-mode: auto\n",
      "/etc/ctdump/ctdump.conf");
  ASSERT_TRUE(node.ok()) << node.status().message();
  auto m = MergeNotifySettings(NotifySettings(), *node);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->mailto, std::vector<std::string>({"root", "admin@example.com"}));
  EXPECT_EQ(m->mailnotification, "failure");
  EXPECT_EQ(m->notification_mode, "auto");
  auto given = MergeNotifySettings(Settings({"x@y"}, "always", "notification-system"), *node);
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->mailto, std::vector<std::string>({"x@y"}));
  EXPECT_EQ(given->mailnotification, "always");
  EXPECT_EQ(given->notification_mode, "notification-system");

  auto bad = ParseVzdumpConf("mode: stop\nmailnotification: sometimes\n", "/c/ctdump.conf");
  ASSERT_TRUE(bad.ok());
  auto e = MergeNotifySettings(NotifySettings(), *bad);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(),
            "/c/ctdump.conf:2: mailnotification: 'sometimes' is not one of always, failure");
}

backup::JobResult Result2() {
  backup::JobResult r;
  backup::GuestResult a;
  a.vmid = "web";
  a.archive = "ct/web/2026-12-04T02:00:00Z";
  a.size = 3 * 1024 * 1024;
  a.seconds = 65;
  backup::GuestResult b;
  b.vmid = "db";
  b.status = FailedPreconditionError("container 'db' does not exist");
  r.guests = {a, b};
  return r;
}

TEST(JobNotificationTest, BackupFailed) {
  backup::JobResult r = Result2();
  notify::Notification n = BackupNotification(
      r, 70, {"INFO: starting new backup job", "ERROR: db failed"}, "pve1", "daily", 1796342400);
  EXPECT_EQ(n.severity, notify::Severity::kError);
  EXPECT_EQ(n.title, "vzdump backup status (pve1): backup failed");
  EXPECT_EQ(n.timestamp, 1796342400);
  EXPECT_EQ(n.fields.at("type"), "vzdump");
  EXPECT_EQ(n.fields.at("hostname"), "pve1");
  EXPECT_EQ(n.fields.at("job-id"), "daily");
  EXPECT_THAT(n.message, HasSubstr("db: container 'db' does not exist\n"));
  EXPECT_THAT(n.message, HasSubstr("VMID"));
  EXPECT_THAT(n.message, HasSubstr("Filename"));
  EXPECT_THAT(n.message, HasSubstr("ct/web/2026-12-04T02:00:00Z"));
  EXPECT_THAT(n.message, HasSubstr("1m 5s"));
  EXPECT_THAT(n.message, HasSubstr("Total running time: 1m 10s\n"));
  EXPECT_THAT(n.message, HasSubstr("Total size: 3.0 MiB\n"));
  EXPECT_THAT(n.message, HasSubstr("ERROR: db failed\n"));
}

TEST(JobNotificationTest, BackupSucceededFromTheCommandLine) {
  backup::JobResult r = Result2();
  r.guests.pop_back();
  notify::Notification n = BackupNotification(r, 65, {}, "pve1", "", 1);
  EXPECT_EQ(n.severity, notify::Severity::kInfo);
  EXPECT_EQ(n.title, "vzdump backup status (pve1): backup successful");
  EXPECT_EQ(n.fields.count("job-id"), 0u);
  EXPECT_THAT(n.message, Not(HasSubstr("failed")));
}

TEST(JobNotificationTest, JobFailedBeforeAnyContainer) {
  backup::JobResult r;
  r.status = FailedPreconditionError("--all: no containers in lxcpath \"/x\": nothing to back up");
  EXPECT_FALSE(r.ok());
  notify::Notification n = BackupNotification(r, 0, {}, "h", "j", 1);
  EXPECT_EQ(n.severity, notify::Severity::kError);
  EXPECT_THAT(n.message, HasSubstr("job: --all: no containers in lxcpath \"/x\""));
}

TEST(JobNotificationTest, SelectionWarningsFail) {
  backup::JobResult r = Result2();
  r.guests.pop_back();
  r.selection_warnings = {"--exclude: no container named 'x'"};
  EXPECT_EQ(BackupErrors(r), "selection: --exclude: no container named 'x'\n");
}

// An error may quote a path from inside a container: it must not forge lines
// of the message (a lone "." ends a mail for sendmail without -i).
TEST(JobNotificationTest, ErrorsAndNamesCannotForgeLines) {
  backup::JobResult r = Result2();
  r.guests[1].status = InternalError("cannot read /srv/x\n.\nINFO: backup successful\x1b[2J");
  r.guests[1].archive = "ct/db/a\nb";
  r.status = InternalError("job\rfailed");
  notify::Notification n = BackupNotification(r, 1, {}, "h", "j", 1);
  EXPECT_THAT(n.message,
              HasSubstr("db: cannot read /srv/x\\n.\\nINFO: backup successful\\x1b[2J\n"));
  EXPECT_THAT(n.message, HasSubstr("ct/db/a\\nb"));
  EXPECT_THAT(n.message, HasSubstr("job: job\\rfailed\n"));
  EXPECT_THAT(n.message, Not(HasSubstr("\n.\n")));
  EXPECT_THAT(n.message, Not(HasSubstr("\x1b")));
  notify::Notification t =
      TaskNotification("verify", false, "t", "bad\n.\nforged", {}, "h", "j", 1);
  EXPECT_THAT(t.message, HasSubstr("bad\\n.\\nforged"));
}

TEST(JobNotificationTest, Durations) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(59), "59s");
  EXPECT_EQ(FormatDuration(60), "1m 0s");
  EXPECT_EQ(FormatDuration(3725), "1h 2m 5s");
}

TEST(JobNotificationTest, TaskNotification) {
  notify::Notification n = TaskNotification("gc", false, "Garbage Collect Datastore 's' failed",
                                            "store locked", {"INFO: x"}, "h", "g1", 5);
  EXPECT_EQ(n.severity, notify::Severity::kError);
  EXPECT_EQ(n.fields.at("type"), "gc");
  EXPECT_EQ(n.fields.at("job-id"), "g1");
  EXPECT_EQ(n.message, "store locked\n\nLogs\n====\nINFO: x\n");
}

TEST(JobNotificationTest, LongLogsKeepTheirEnd) {
  std::vector<std::string> log;
  for (int i = 0; i < 1500; ++i) log.push_back("line " + std::to_string(i));
  notify::Notification n = TaskNotification("verify", true, "t", "", log, "h", "", 5);
  EXPECT_THAT(n.message, HasSubstr("(500 earlier lines left out)\nline 500\n"));
  EXPECT_THAT(n.message, HasSubstr("line 1499\n"));
  EXPECT_THAT(n.message, Not(HasSubstr("line 499\n")));
}

// The scheduler's notification about configuration errors may be about
// notifications.cfg itself: it goes through PVE's default (mail-to-root)
// rather than nowhere.
TEST(JobNotificationTest, BrokenNotificationsCfgFallsBackToTheDefault) {
  MailDir d;
  ASSERT_TRUE(sys::WriteFileAtomic(d.dir + "/notifications.cfg", "frobnicate: x\n", 0644).ok());
  notify::Notification n = TaskNotification("system", false, "configuration errors",
                                            "notifications.cfg:1: broken", {}, "h", "", 5);
  Lines log;
  SendNotification(d.dir, NotifySettings(), n, &log);  // a job's: nothing sent
  EXPECT_EQ(d.Mail(), "");
  EXPECT_THAT(log.All(), HasSubstr("no notification sent"));
  Lines fallback;
  SendNotification(d.dir, NotifySettings(), n, &fallback, true);
  EXPECT_THAT(d.Mail(), HasSubstr("configuration errors"));
  EXPECT_THAT(d.Mail(), HasSubstr("notifications.cfg:1: broken"));
  EXPECT_THAT(fallback.All(), HasSubstr("built-in default"));
}

TEST(JobNotificationTest, CheckNotifyConfigReturnsTheConfigsWarnings) {
  MailDir d;
  ASSERT_TRUE(sys::MakeDirs(d.dir + "/priv", 0700).ok());
  ASSERT_TRUE(sys::WriteFileAtomic(d.dir + "/priv/notifications.cfg", "", 0644).ok());
  ::chmod((d.dir + "/priv/notifications.cfg").c_str(), 0644);
  std::vector<std::string> warnings;
  ASSERT_TRUE(CheckNotifyConfig(d.dir, &warnings).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("others may read it"));
}

}  // namespace
}  // namespace ctdump::jobs
