#include "backup/status_check.h"

#include <gtest/gtest.h>

namespace ctdump::backup {
namespace {

constexpr int64_t kNow = 1764145379;
constexpr int64_t kHour = 3600;

TEST(ParseDurationTest, UnitsAndSums) {
  EXPECT_EQ(*ParseDuration("90m"), 90 * 60);
  EXPECT_EQ(*ParseDuration("36h"), 36 * kHour);
  EXPECT_EQ(*ParseDuration("2d"), 48 * kHour);
  EXPECT_EQ(*ParseDuration("1w"), 7 * 24 * kHour);
  EXPECT_EQ(*ParseDuration("45s"), 45);
  EXPECT_EQ(*ParseDuration("1d12h"), 36 * kHour);
  EXPECT_EQ(*ParseDuration("1h30m15s"), kHour + 30 * 60 + 15);
}

TEST(ParseDurationTest, BadInputNamesTheText) {
  for (const char* text : {"", "36", "h", "36x", "1.5h", "-1h", "0h", "0s0m", "36h ", " 36h",
                           "99999999999999999999h", "40000d", "1d-1h"}) {
    auto r = ParseDuration(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(std::string("'") + text + "'"), std::string::npos)
        << r.status().message();
  }
}

TEST(FormatDurationTest, TwoLargestUnits) {
  EXPECT_EQ(FormatDuration(-5), "0s");
  EXPECT_EQ(FormatDuration(10), "10s");
  EXPECT_EQ(FormatDuration(42 * 60 + 5), "42m");
  EXPECT_EQ(FormatDuration(5 * kHour + 12 * 60), "5h 12m");
  EXPECT_EQ(FormatDuration(2 * 86400 + 3 * kHour + 59), "2d 3h");
  EXPECT_EQ(FormatDuration(86400), "1d");
  EXPECT_EQ(FormatMaxAge(26 * kHour), "26h");
  EXPECT_EQ(FormatMaxAge(2 * 86400), "2d");
  EXPECT_EQ(FormatMaxAge(90 * 60), "90m");
  EXPECT_EQ(FormatMaxAge(61), "61s");
}

class ClassifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    in_.now = kNow;
    in_.containers = {"db", "web"};
    in_.storages = {"local", "pbs"};
    Backup("web", "local", kNow - 2 * kHour);
    Backup("web", "pbs", kNow - 30 * kHour);
    Backup("db", "pbs", kNow - 20 * kHour);
  }
  void Backup(const std::string& vmid, const std::string& storage, int64_t ctime) {
    in_.backups[vmid].push_back({storage, "ct/" + vmid + "/x", ctime, 1000});
  }
  void Record(const std::string& vmid, GuestOutcome o, const std::string& message = "",
              const std::string& storage = "local") {
    GuestRecord r;
    r.vmid = vmid;
    r.time = kNow - kHour;
    r.storage = storage;
    r.result = o;
    r.message = message;
    r.warnings = o == GuestOutcome::kWarning ? 2 : 0;
    in_.records.push_back(r);
  }
  const ContainerStatus& Of(const StatusReport& r, const std::string& vmid) {
    for (const auto& c : r.containers)
      if (c.vmid == vmid) return c;
    ADD_FAILURE() << "no " << vmid;
    return r.containers.front();
  }
  StatusInput in_;
};

TEST_F(ClassifyTest, AllRecentIsOk) {
  Record("web", GuestOutcome::kOk);
  StatusReport r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kOk);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(r.summary, "CTDUMP OK - 2 containers backed up within 26h");
  const ContainerStatus& web = Of(r, "web");
  ASSERT_TRUE(web.newest);
  EXPECT_EQ(web.newest->storage, "local");
  ASSERT_EQ(web.backups.size(), 2u);
  EXPECT_EQ(web.backups[1].storage, "pbs");
  ASSERT_TRUE(web.last_job);
  EXPECT_TRUE(web.configured);
}

TEST_F(ClassifyTest, TooOldIsCriticalAtExactlyMaxAge) {
  in_.max_age = 20 * kHour;  // db's newest is exactly that old
  StatusReport r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kCritical);
  EXPECT_EQ(r.exit_code(), 2);
  EXPECT_EQ(Of(r, "db").state, CheckState::kCritical);
  EXPECT_EQ(Of(r, "web").state, CheckState::kOk);
  EXPECT_EQ(r.summary,
            "CTDUMP CRITICAL - 1 of 2 containers not ok: db: no backup within 20h: the newest is "
            "20h old (pbs:ct/db/x)");
  in_.max_age = 20 * kHour + 1;
  EXPECT_EQ(Classify(in_).state, CheckState::kOk);
}

TEST_F(ClassifyTest, NoBackupAtAllIsCritical) {
  in_.containers.push_back("new");
  StatusReport r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kCritical);
  EXPECT_EQ(Of(r, "new").reasons, std::vector<std::string>{"no backup on any storage"});
  EXPECT_FALSE(Of(r, "new").newest);
}

TEST_F(ClassifyTest, FailedLastJobIsCriticalEvenWithARecentBackup) {
  Record("web", GuestOutcome::kError, "storage 'pbs' is unreachable");
  StatusReport r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kCritical);
  ASSERT_EQ(Of(r, "web").reasons.size(), 1u);
  EXPECT_EQ(Of(r, "web").reasons[0],
            "last backup job failed (2025-11-26 07:22:59 UTC): storage 'pbs' is unreachable");
  EXPECT_NE(r.summary.find("storage 'pbs' is unreachable"), std::string::npos);
}

TEST_F(ClassifyTest, WarningsOfTheLastJobAndUnreadableStorages) {
  Record("db", GuestOutcome::kWarning);
  StatusReport r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kWarning);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(Of(r, "db").state, CheckState::kWarning);
  in_.records.clear();
  in_.unreadable_storages["nfs"] = "mount is gone";
  r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kWarning);
  EXPECT_EQ(r.summary,
            "CTDUMP WARNING - 2 containers backed up within 26h; storage 'nfs' cannot be listed: "
            "mount is gone");
  in_.unreadable_storages.clear();
  in_.problems.push_back("guest state \"/x/guests/a.json\" is malformed: no time");
  EXPECT_EQ(Classify(in_).state, CheckState::kWarning);
}

TEST_F(ClassifyTest, CriticalWinsOverWarning) {
  in_.unreadable_storages["nfs"] = "gone";
  in_.containers.push_back("new");
  EXPECT_EQ(Classify(in_).state, CheckState::kCritical);
}

// A container that is not under lxcpath (destroyed, or a typo such as
// `ctdump backup wbe`) is known only from its record: it is checked while
// the record is younger than max-age, and then only on its last job (it
// needs no new backups), unless it is named.
TEST_F(ClassifyTest, ContainerKnownOnlyFromARecentRecordIsCheckedOnItsLastJob) {
  Record("gone", GuestOutcome::kOk);
  StatusReport r = Classify(in_);
  ASSERT_EQ(r.containers.size(), 3u);
  EXPECT_FALSE(Of(r, "gone").configured);
  EXPECT_EQ(Of(r, "gone").state, CheckState::kOk);  // no backup, but it is gone
  EXPECT_EQ(r.state, CheckState::kOk);
  // Its failure shows until the record is max-age old.
  in_.records.clear();
  Record("wbe", GuestOutcome::kError, "container 'wbe' does not exist");
  r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kCritical);
  ASSERT_EQ(Of(r, "wbe").reasons.size(), 2u);
  EXPECT_NE(Of(r, "wbe").reasons[0].find("does not exist"), std::string::npos);
  EXPECT_NE(Of(r, "wbe").reasons[1].find("not under lxcpath"), std::string::npos)
      << Of(r, "wbe").reasons[1];
  EXPECT_NE(Of(r, "wbe").reasons[1].find("ctdump status --forget wbe"), std::string::npos)
      << Of(r, "wbe").reasons[1];
  // Backups of containers neither configured nor recorded are not checked.
  Backup("old", "pbs", kNow - 300 * kHour);
  EXPECT_EQ(Classify(in_).containers.size(), 3u);
}

TEST_F(ClassifyTest, RecordOfAGoneContainerAgesOutAtMaxAge) {
  Record("wbe", GuestOutcome::kError, "container 'wbe' does not exist");
  in_.records.back().time = kNow - 26 * kHour + 1;
  EXPECT_EQ(Classify(in_).state, CheckState::kCritical);
  in_.records.back().time = kNow - 26 * kHour;
  StatusReport r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kOk);
  EXPECT_EQ(r.containers.size(), 2u);
  // A destroyed container whose last job was ok and whose newest backup is
  // older than max-age (the record is the job's end, later than the backup's
  // start): never critical, neither before nor after its record ages out.
  in_.records.clear();
  Record("gone", GuestOutcome::kOk);
  in_.records.back().time = kNow - 26 * kHour + 60;
  Backup("gone", "pbs", kNow - 26 * kHour - 60);
  EXPECT_EQ(Classify(in_).state, CheckState::kOk);
  in_.records.back().time = kNow - 27 * kHour;
  r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kOk);
  EXPECT_EQ(r.containers.size(), 2u);
}

TEST_F(ClassifyTest, NamedContainerIsCheckedInFullWhateverItsRecord) {
  Record("gone", GuestOutcome::kOk);
  in_.records.back().time = kNow - 300 * kHour;
  in_.only = {"gone"};
  StatusReport r = Classify(in_);
  ASSERT_EQ(r.containers.size(), 1u);
  EXPECT_EQ(Of(r, "gone").state, CheckState::kCritical);  // no backup on any storage
  ASSERT_TRUE(Of(r, "gone").last_job);
}

TEST_F(ClassifyTest, RestoreTestContainersAndTheirRecordsAreNotChecked) {
  in_.containers.push_back("ctdump-rt-web-1a2b");
  Record("ctdump-rt-db-3c4d", GuestOutcome::kError, "boom");
  StatusReport r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kOk);
  EXPECT_EQ(r.containers.size(), 2u);
  // Named, it is checked.
  in_.only = {"ctdump-rt-db-3c4d"};
  EXPECT_EQ(Classify(in_).state, CheckState::kCritical);
}

TEST_F(ClassifyTest, UnlistedLxcpathChecksEveryRecordInFull) {
  // Whether a container still exists is unknown: no record is dropped.
  in_.containers.clear();
  in_.containers_listed = false;
  in_.problems.push_back("cannot list /var/lib/lxc");
  Record("web", GuestOutcome::kOk);
  in_.records.back().time = kNow - 300 * kHour;
  Record("gone", GuestOutcome::kOk);
  StatusReport r = Classify(in_);
  ASSERT_EQ(r.containers.size(), 2u);
  EXPECT_EQ(Of(r, "web").state, CheckState::kOk);
  EXPECT_EQ(Of(r, "gone").state, CheckState::kCritical);  // no backup on any storage
}

TEST_F(ClassifyTest, OnlyTheNamedContainers) {
  in_.containers.push_back("new");
  in_.only = {"web"};
  StatusReport r = Classify(in_);
  ASSERT_EQ(r.containers.size(), 1u);
  EXPECT_EQ(r.state, CheckState::kOk);
  in_.only = {"nosuch"};
  EXPECT_EQ(Classify(in_).state, CheckState::kCritical);
}

TEST_F(ClassifyTest, ExcludedContainersAreNotChecked) {
  in_.containers.push_back("scratch");
  EXPECT_EQ(Classify(in_).state, CheckState::kCritical);
  in_.exclude = {"scratch"};
  StatusReport r = Classify(in_);
  EXPECT_EQ(r.state, CheckState::kOk);
  EXPECT_EQ(r.containers.size(), 2u);
}

TEST_F(ClassifyTest, OnlyOneStorage) {
  in_.only_storage = "pbs";
  Record("web", GuestOutcome::kError, "failed on local", "local");
  StatusReport r = Classify(in_);
  // web's newest on pbs is 30h old; local's job does not count.
  EXPECT_EQ(Of(r, "web").state, CheckState::kCritical);
  ASSERT_EQ(Of(r, "web").reasons.size(), 1u);
  EXPECT_NE(Of(r, "web").reasons[0].find("1d 6h old"), std::string::npos);
  EXPECT_FALSE(Of(r, "web").last_job);
  EXPECT_EQ(Of(r, "db").state, CheckState::kOk);
}

TEST_F(ClassifyTest, NothingToCheckIsAWarning) {
  StatusInput empty;
  empty.now = kNow;
  StatusReport r = Classify(empty);
  EXPECT_EQ(r.state, CheckState::kWarning);
  EXPECT_EQ(r.summary,
            "CTDUMP WARNING - 0 containers backed up within 26h; no containers to check");
}

TEST_F(ClassifyTest, SummaryIsOneLineAndNamesAtMostThree) {
  for (const char* vmid : {"a", "b", "c", "d"}) {
    in_.containers.push_back(vmid);
  }
  Record("web", GuestOutcome::kError, "line one\nline two");
  StatusReport r = Classify(in_);
  EXPECT_EQ(r.summary.find('\n'), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("5 of 6 containers not ok"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("and 2 more"), std::string::npos) << r.summary;
}

TEST_F(ClassifyTest, BackupFromTheFutureCountsAsRecent) {
  in_.backups.clear();
  Backup("web", "local", kNow + 600);
  Backup("db", "local", kNow);
  EXPECT_EQ(Classify(in_).state, CheckState::kOk);
}

}  // namespace
}  // namespace ctdump::backup
