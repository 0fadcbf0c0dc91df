#include "jobs/job_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "config/config_test_util.h"

namespace ctdump::jobs {
namespace {

using ::testing::HasSubstr;

constexpr const char* kFile = "/etc/ctdump/jobs.cfg";

JobsConfig Parse(const std::string& text) { return ParseJobsConfig(text, kFile); }

TEST(JobConfigTest, EveryJobType) {
  JobsConfig c = Parse(
      "# PVE's example\n"
      "vzdump: backup-3f1d4c9e-f2f5\n"
      "\tschedule sat 02:00\n"
      "\tall 1\n"
      "\texclude db,cache\n"
      "\tcompress zstd\n"
      "\tenabled 1\n"
      "\tmailnotification failure\n"
      "\tmailto admin@example.com root\n"
      "\tnotification-mode legacy-sendmail\n"
      "\tmode snapshot\n"
      "\tnotes-template {{guestname}}\n"
      "\tstorage local\n"
      "\trepeat-missed 1\n"
      "\tprune-backups keep-last=3,keep-daily=7\n"
      "\texclude-path /tmp/?* '/var/cache/a b'\n"
      "\tbwlimit 1000\n"
      "\tzstd 2\n"
      "\tstdexcludes 0\n"
      "\tprotected 1\n"
      "\tcomment nightly\n"
      "\n"
      "verify: v1\n"
      "\tstorage store\n"
      "\tschedule daily\n"
      "\tignore-verified 1\n"
      "\toutdated-after 30\n"
      "\n"
      "gc: g1\n"
      "\tstorage store\n"
      "\n"
      "restore-test: r1\n"
      "\tstorage local\n"
      "\tvmid web db\n"
      "\tcheck test -f /etc/hostname\n"
      "\tschedule monthly\n"
      "\ttimeout 600\n"
      "\tenabled No\n");
  ASSERT_TRUE(c.errors.empty()) << c.errors[0].message();
  ASSERT_EQ(c.jobs.size(), 4u);
  const JobConfig& v = c.jobs[0];
  EXPECT_EQ(v.type, JobType::kVzdump);
  EXPECT_EQ(v.id, "backup-3f1d4c9e-f2f5");
  EXPECT_EQ(v.line, 2u);
  EXPECT_EQ(v.StateKey(), "vzdump-backup-3f1d4c9e-f2f5");
  ASSERT_TRUE(v.schedule);
  EXPECT_EQ(v.schedule->text(), "sat 02:00");
  EXPECT_TRUE(v.enabled);
  EXPECT_TRUE(v.repeat_missed);
  EXPECT_EQ(v.comment, "nightly");
  EXPECT_TRUE(v.backup.all);
  EXPECT_EQ(v.backup.exclude, std::vector<std::string>({"db,cache"}));
  EXPECT_EQ(v.backup.compress, "zstd");
  EXPECT_EQ(v.backup.mode, "snapshot");
  EXPECT_EQ(v.backup.storage, "local");
  EXPECT_EQ(v.backup.notes_template, "{{guestname}}");
  EXPECT_EQ(v.backup.prune_backups, "keep-last=3,keep-daily=7");
  EXPECT_EQ(v.backup.exclude_paths, std::vector<std::string>({"/tmp/?*", "/var/cache/a b"}));
  EXPECT_EQ(v.backup.bwlimit_kib, 1000u);
  EXPECT_EQ(v.backup.zstd_threads, 2u);
  EXPECT_EQ(v.backup.stdexcludes, false);
  EXPECT_EQ(v.backup.is_protected, true);
  EXPECT_EQ(v.notify.mailto, std::vector<std::string>({"admin@example.com", "root"}));
  EXPECT_EQ(v.notify.mailnotification, "failure");
  EXPECT_EQ(v.notify.notification_mode, "legacy-sendmail");
  EXPECT_EQ(v.options.size(), 19u);

  const JobConfig& ver = c.jobs[1];
  EXPECT_EQ(ver.type, JobType::kVerify);
  EXPECT_EQ(ver.storage, "store");
  EXPECT_EQ(ver.skip_verified_days, 30u);
  EXPECT_FALSE(ver.repeat_missed);

  const JobConfig& gc = c.jobs[2];
  EXPECT_EQ(gc.type, JobType::kGc);
  EXPECT_FALSE(gc.schedule);  // runs only by `job run`

  const JobConfig& r = c.jobs[3];
  EXPECT_EQ(r.type, JobType::kRestoreTest);
  EXPECT_EQ(r.vmids, std::vector<std::string>({"web", "db"}));
  EXPECT_EQ(r.check, "test -f /etc/hostname");
  EXPECT_EQ(r.timeout_s, 600u);
  EXPECT_FALSE(r.enabled);
  EXPECT_EQ(c.Find("g1"), &c.jobs[2]);
  EXPECT_EQ(c.Find("nope"), nullptr);
}

TEST(JobConfigTest, CompactJobs) {
  JobsConfig c = Parse("compact: nightly-compact\n\tstorage store\n\tschedule sun 04:00\n");
  ASSERT_TRUE(c.errors.empty()) << c.errors[0].message();
  ASSERT_EQ(c.jobs.size(), 1u);
  EXPECT_EQ(c.jobs[0].type, JobType::kCompact);
  EXPECT_EQ(JobTypeName(c.jobs[0].type), "compact");
  EXPECT_EQ(c.jobs[0].storage, "store");
  EXPECT_EQ(c.jobs[0].StateKey(), "compact-nightly-compact");
  JobsConfig bad = Parse("compact: c\n\tschedule daily\n\tlevel 3\n");
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_THAT(bad.errors[0].message(), HasSubstr("unknown key 'level' in compact job 'c'"));
  JobsConfig none = Parse("compact: c\n\tschedule daily\n");
  ASSERT_EQ(none.errors.size(), 1u);
  EXPECT_THAT(none.errors[0].message(), HasSubstr("compact job 'c': no storage given"));
}

TEST(JobConfigTest, SyncJobs) {
  JobsConfig c = Parse(
      "sync: offsite\n\tsource store\n\ttarget far\n\tschedule 03:00\n"
      "\tremove-vanished 1\n\ttransfer-last 7\n\tcomment to the other room\n\n"
      "sync: some\n\tsource store\n\ttarget far\n\tvmid 101,102 103\n\tenabled 0\n");
  ASSERT_TRUE(c.errors.empty()) << c.errors[0].message();
  ASSERT_EQ(c.jobs.size(), 2u);
  const JobConfig& a = c.jobs[0];
  EXPECT_EQ(a.type, JobType::kSync);
  EXPECT_EQ(JobTypeName(a.type), "sync");
  EXPECT_EQ(a.StateKey(), "sync-offsite");
  EXPECT_EQ(a.source, "store");
  EXPECT_EQ(a.target, "far");
  EXPECT_TRUE(a.all);
  EXPECT_TRUE(a.vmids.empty());
  EXPECT_TRUE(a.remove_vanished);
  EXPECT_EQ(a.transfer_last, std::optional<uint32_t>(7));
  EXPECT_TRUE(a.schedule.has_value());
  EXPECT_EQ(a.comment, "to the other room");
  const JobConfig& b = c.jobs[1];
  EXPECT_FALSE(b.all);
  EXPECT_EQ(b.vmids, (std::vector<std::string>{"101", "102", "103"}));
  EXPECT_FALSE(b.remove_vanished);
  EXPECT_FALSE(b.transfer_last.has_value());
  EXPECT_FALSE(b.enabled);
  EXPECT_FALSE(b.schedule.has_value());
}

TEST(JobConfigTest, VerifySkipDays) {
  JobsConfig c = Parse(
      "verify: a\n\tstorage s\n\n"
      "verify: b\n\tstorage s\n\tignore-verified 1\n\n"
      "verify: c\n\tstorage s\n\toutdated-after 7\n\n"
      "verify: d\n\toutdated-after 7\n\tignore-verified 1\n\tstorage s\n\tvmid web\n");
  ASSERT_TRUE(c.errors.empty()) << c.errors[0].message();
  ASSERT_EQ(c.jobs.size(), 4u);
  EXPECT_EQ(c.jobs[0].skip_verified_days, std::nullopt);
  EXPECT_EQ(c.jobs[1].skip_verified_days, kNeverOutdatedDays);
  EXPECT_EQ(c.jobs[2].skip_verified_days, std::nullopt);  // PBS: only with ignore-verified
  EXPECT_EQ(c.jobs[3].skip_verified_days, 7u);
  EXPECT_EQ(c.jobs[3].vmids, std::vector<std::string>({"web"}));
}

TEST(JobConfigTest, KeyWithoutValueMeansOne) {
  JobsConfig c = Parse("vzdump: a\n\tschedule daily\n\tall\n\tstorage s\n");
  ASSERT_TRUE(c.errors.empty()) << c.errors[0].message();
  EXPECT_TRUE(c.jobs[0].backup.all);
}

TEST(JobConfigTest, EmptyAndCommentsOnly) {
  EXPECT_TRUE(Parse("").jobs.empty());
  JobsConfig c = Parse("# nothing\n\n   # indented comment\n");
  EXPECT_TRUE(c.jobs.empty());
  EXPECT_TRUE(c.errors.empty());
}

// One broken section is reported with file:line and the offending text; the
// sections around it are still there.
struct BadCase {
  const char* name;
  const char* section;  // starts at line 4
  const char* message;  // expected, after "<file>:"
};

TEST(JobConfigTest, ErrorsNameFileLineAndText) {
  const BadCase cases[] = {
      {"UnknownKey", "vzdump: bad\n\tschedule daily\n\tall 1\n\tfrobnicate 3\n",
       "7: unknown key 'frobnicate' in vzdump job 'bad'"},
      {"UnknownKeyInGc", "gc: bad\n\tstorage s\n\tmode stop\n",
       "6: unknown key 'mode' in gc job 'bad'"},
      {"BadCalendar", "vzdump: bad\n\tschedule sat 02:xx\n\tall 1\n",
       "5: schedule: invalid calendar event 'sat 02:xx'"},
      {"BadBool", "vzdump: bad\n\tschedule daily\n\tall 1\n\tenabled yes please\n",
       "7: enabled: 'yes please' is not a boolean (0 or 1)"},
      {"BadRepeatMissed", "gc: bad\n\tstorage s\n\trepeat-missed 2\n",
       "6: repeat-missed: '2' is not a boolean (0 or 1)"},
      {"BadMode", "vzdump: bad\n\tschedule daily\n\tall 1\n\tmode fast\n",
       "7: mode: unknown mode 'fast'"},
      {"BadCompress", "vzdump: bad\n\tschedule daily\n\tall 1\n\tcompress xz\n",
       "7: compress: 'xz' is not one of"},
      {"BadBwlimit", "vzdump: bad\n\tschedule daily\n\tall 1\n\tbwlimit lots\n",
       "7: bwlimit: 'lots' is not a non-negative integer"},
      {"TooManyThreads", "vzdump: bad\n\tschedule daily\n\tall 1\n\tzstd 999\n",
       "7: zstd: 999 is larger than 256"},
      {"BadPrune", "vzdump: bad\n\tschedule daily\n\tall 1\n\tprune-backups keep-often=3\n",
       "7: prune-backups: "},
      {"BadNotes", "vzdump: bad\n\tschedule daily\n\tall 1\n\tnotes-template {{nope}}\n",
       "7: notes-template: "},
      {"BadExcludePath", "vzdump: bad\n\tschedule daily\n\tall 1\n\texclude-path '/tmp\n",
       "7: exclude-path: unbalanced ' quote"},
      {"RelativeTmpdir", "vzdump: bad\n\tschedule daily\n\tall 1\n\ttmpdir tmp\n",
       "7: tmpdir: 'tmp' must be an absolute path"},
      {"BadMailto", "vzdump: bad\n\tschedule daily\n\tall 1\n\tmailto -oQ/tmp/x\n",
       "7: mailto: '-oQ/tmp/x' is no mail address"},
      {"BadMailnotification", "vzdump: bad\n\tschedule daily\n\tall 1\n\tmailnotification never\n",
       "7: mailnotification: 'never' is not one of always, failure"},
      {"BadNotificationMode",
       "vzdump: bad\n\tschedule daily\n\tall 1\n\tnotification-mode carrier-pigeon\n",
       "7: notification-mode: 'carrier-pigeon' is not one of auto, legacy-sendmail, "
       "notification-system"},
      {"NoSchedule", "vzdump: bad\n\tall 1\n", "4: vzdump job 'bad': no schedule given"},
      {"NoSelection", "vzdump: bad\n\tschedule daily\n",
       "4: vzdump job 'bad': no container selected (vmid or all 1)"},
      {"VmidAndAll", "vzdump: bad\n\tschedule daily\n\tall 1\n\tvmid web\n",
       "4: vzdump job 'bad': give either vmid or all 1 (with exclude), not both"},
      {"StorageAndDumpdir",
       "vzdump: bad\n\tschedule daily\n\tall 1\n\tstorage s\n\tdumpdir /var/backup\n",
       "4: vzdump job 'bad': cannot use options 'storage' and 'dumpdir' together"},
      {"PruneAndMaxfiles",
       "vzdump: bad\n\tschedule daily\n\tall 1\n\tmaxfiles 3\n\tprune-backups keep-last=3\n",
       "4: vzdump job 'bad': 'prune-backups' conflicts with 'maxfiles'"},
      {"VerifyWithoutStorage", "verify: bad\n\tschedule daily\n",
       "4: verify job 'bad': no storage given"},
      {"VerifyTwoVmids", "verify: bad\n\tstorage s\n\tvmid a,b\n",
       "6: vmid: 'a,b': a verify job takes one container"},
      {"BadOutdatedAfter", "verify: bad\n\tstorage s\n\toutdated-after -1\n",
       "6: outdated-after: '-1' is not a non-negative integer"},
      {"GcWithoutStorage", "gc: bad\n\tschedule daily\n", "4: gc job 'bad': no storage given"},
      {"BadStorageId", "gc: bad\n\tstorage ../x\n", "5: storage: '../x' is no storage id"},
      {"RestoreTestNoSelection", "restore-test: bad\n\tstorage s\n",
       "4: restore-test job 'bad': no container selected (vmid or all 1)"},
      {"RestoreTestZeroTimeout", "restore-test: bad\n\tstorage s\n\tvmid a\n\ttimeout 0\n",
       "7: timeout: must be at least 1"},
      {"SyncWithoutTarget", "sync: bad\n\tsource s\n",
       "4: sync job 'bad': no target storage given"},
      {"SyncWithoutSource", "sync: bad\n\ttarget t\n",
       "4: sync job 'bad': no source storage given"},
      {"SyncToItself", "sync: bad\n\tsource s\n\ttarget s\n",
       "4: sync job 'bad': source and target are the same storage"},
      {"SyncVmidAndAll", "sync: bad\n\tsource s\n\ttarget t\n\tvmid 101\n\tall 1\n",
       "4: sync job 'bad': give either vmid or all 1, not both"},
      {"SyncZeroTransferLast", "sync: bad\n\tsource s\n\ttarget t\n\ttransfer-last 0\n",
       "7: transfer-last: must be at least 1"},
      {"SyncBadTarget", "sync: bad\n\tsource s\n\ttarget ../t\n",
       "6: target: '../t' is no storage id"},
      {"SyncStorageKey", "sync: bad\n\tsource s\n\ttarget t\n\tstorage u\n",
       "7: unknown key 'storage' in sync job 'bad'"},
      {"UnknownType", "backup: bad\n\tschedule daily\n",
       "4: unknown job type 'backup' (vzdump, verify, gc, sync or restore-test)"},
      {"DuplicateId", "gc: good1\n\tstorage s\n", "4: job id 'good1' is already used on line 1"},
      {"DuplicateKey", "gc: bad\n\tstorage s\n\tstorage t\n",
       "6: duplicate option 'storage' in section 'bad'"},
      {"BadHeader", "vzdump bad\n\tschedule daily\n",
       "4: unable to parse line 'vzdump bad', expected '<type>: <id>' or an indented option"},
      {"BadId", "vzdump: b/ad\n\tschedule daily\n", "4: invalid section id 'b/ad'"},
  };
  for (const BadCase& c : cases) {
    std::string text = std::string("gc: good1\n\tstorage s\n\n") + c.section +
                       "\nvzdump: good2\n\tschedule daily\n\tvmid web\n";
    JobsConfig cfg = Parse(text);
    ASSERT_GE(cfg.errors.size(), 1u) << c.name;
    EXPECT_EQ(cfg.errors[0].code(), Code::kInvalidArgument) << c.name;
    EXPECT_THAT(cfg.errors[0].message(), HasSubstr(std::string(kFile) + ":" + c.message)) << c.name;
    ASSERT_GE(cfg.jobs.size(), 2u) << c.name << ": " << cfg.errors[0].message();
    EXPECT_EQ(cfg.jobs.front().id, "good1") << c.name;
    EXPECT_EQ(cfg.jobs.back().id, "good2") << c.name;
    EXPECT_EQ(cfg.Find("bad"), nullptr) << c.name;
  }
}

TEST(JobConfigTest, IndentedLineOutsideASection) {
  JobsConfig c = Parse("\tstorage s\ngc: g\n\tstorage s\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].message(), std::string(kFile) + ":1: option 'storage s' outside a section");
  ASSERT_EQ(c.jobs.size(), 1u);
}

// storage.cfg's grammar (config's ParseSectionConfigLines): CRLF, comments
// inside a section, a whitespace-only line ends a section, no space before
// the colon of a header.
TEST(JobConfigTest, SectionConfigGrammar) {
  JobsConfig c =
      Parse("gc: a\r\n# note\r\n\tstorage s\r\n\r\ngc: b\n\tstorage t\n \t\n\tschedule daily\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].message(),
            std::string(kFile) + ":8: option 'schedule daily' outside a section");
  ASSERT_EQ(c.jobs.size(), 2u);
  EXPECT_EQ(c.jobs[0].storage, "s");
  EXPECT_EQ(c.jobs[1].line, 5u);
  c = Parse("gc : a\n\tstorage s\n");
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].message(), std::string(kFile) + ":1: invalid section type 'gc '");
  EXPECT_TRUE(c.jobs.empty());
}

TEST(JobConfigTest, EveryErrorOfASectionIsReportedInLineOrder) {
  JobsConfig c = Parse("vzdump: bad\n\tschedule never\n\tall 1\n\tfoo 1\n\tmode x\n");
  ASSERT_EQ(c.errors.size(), 3u);
  EXPECT_THAT(c.errors[0].message(), HasSubstr(":2: schedule: invalid calendar event 'never'"));
  EXPECT_THAT(c.errors[1].message(), HasSubstr(":4: unknown key 'foo'"));
  EXPECT_THAT(c.errors[2].message(), HasSubstr(":5: mode: unknown mode 'x'"));
  EXPECT_TRUE(c.jobs.empty());
}

TEST(JobConfigTest, EveryJobOptionIsAKey) {
  // Every row of the option table is a vzdump job key (with a value its type takes).
  for (const backup::JobOptionSpec& spec : backup::JobOptionTable()) {
    std::string value = "1";
    if (spec.name == "mode") value = "stop";
    if (spec.name == "compress") value = "zstd";
    if (spec.name == "prune-backups") value = "keep-last=1";
    if (spec.name == "tmpdir" || spec.name == "dumpdir" || spec.name == "include-mount" ||
        spec.name == "exclude-path" || spec.name == "script")
      value = "/x";
    std::string sel =
        spec.name == "vmid" || spec.name == "all" || spec.name == "exclude" ? "" : "\tvmid web\n";
    std::string text =
        "vzdump: j\n\tschedule daily\n" + sel + "\t" + std::string(spec.name) + " " + value + "\n";
    JobsConfig c = Parse(text);
    EXPECT_TRUE(c.errors.empty()) << spec.name << ": " << c.errors[0].message();
  }
}

TEST(JobConfigTest, LoadMissingFileIsEmpty) {
  auto c = LoadJobsConfig("/nonexistent-ctdump-config");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->jobs.empty());
  EXPECT_TRUE(c->errors.empty());
  EXPECT_EQ(c->file, "/nonexistent-ctdump-config/jobs.cfg");
}

// Deterministic stand-in for a fuzzer: mutated files never crash the parser,
// every error is InvalidArgument naming the file and a line, and every job
// returned is complete.
TEST(JobConfigTest, RandomizedNeverCrashes) {
  const std::string seed =
      "vzdump: a\n\tschedule mon..fri 02:00\n\tall 1\n\texclude b,c\n\tstorage s\n"
      "\texclude-path /tmp/?* '/x y'\n\tmailto r@x\n\n"
      "verify: v\n\tstorage s\n\tignore-verified 1\n\toutdated-after 3\n\n"
      "gc: g\n\tstorage s\n\tschedule */15\n\n"
      "restore-test: r\n\tstorage s\n\tvmid a b\n\tcheck true\n";
  const std::vector<std::string> tokens = {"\n", "\t",       ":",    ": ",        " ",    "#",
                                           "'",  "vzdump: ", "gc: ", "schedule ", "all ", "vmid ",
                                           "..", "*/",       "0",    "-"};
  std::mt19937 rng(4711);
  int good = 0, broken = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string text = testing_util::Mutate(seed, rng, tokens);
    JobsConfig c = Parse(text);
    for (const Status& e : c.errors) {
      ASSERT_EQ(e.code(), Code::kInvalidArgument);
      ASSERT_EQ(e.message().rfind(std::string(kFile) + ":", 0), 0u) << e.message();
    }
    broken += c.errors.empty() ? 0 : 1;
    for (const JobConfig& j : c.jobs) {
      ++good;
      ASSERT_FALSE(j.id.empty());
      ASSERT_GT(j.line, 0u);
      if (j.type == JobType::kVzdump) {
        ASSERT_TRUE(j.schedule.has_value());
      } else {
        ASSERT_FALSE(j.storage.empty());
      }
    }
  }
  EXPECT_GT(good, 1000);
  EXPECT_GT(broken, 1000);
}

}  // namespace
}  // namespace ctdump::jobs
