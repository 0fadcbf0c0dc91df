#include "sys/journal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "sys/file.h"

namespace ctdump::sys {
namespace {

class LogLines : public Observer {
 public:
  void Log(LogLevel, std::string_view message) noexcept override { lines.emplace_back(message); }
  std::vector<std::string> lines;
};

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-journal-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    run_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(run_).ok()); }

  std::string State(const std::string& name) const { return run_ + "/state/" + name; }
  void Put(const std::string& name, const std::string& text) {
    ASSERT_TRUE(MakeDirs(run_ + "/state").ok());
    ASSERT_TRUE(WriteFileAtomic(State(name), text).ok());
  }

  std::string run_;
  LogLines log_;
};

TEST_F(JournalTest, PathWriteAndClear) {
  std::string path = JournalPath(run_ + "/state", "lxc-", "100");
  EXPECT_EQ(path, run_ + "/state/lxc-100.json");
  ASSERT_TRUE(WriteJournal(path, "{\"a\":1}\n").ok());  // creates state/
  EXPECT_EQ(*ReadFile(path), "{\"a\":1}\n");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE(WriteJournal(path, "{}\n").ok());
  EXPECT_EQ(*ReadFile(path), "{}\n");
  ASSERT_TRUE(ClearJournal(path).ok());
  EXPECT_FALSE(PathExists(path));
  EXPECT_TRUE(ClearJournal(path).ok());  // already gone: fine
}

TEST_F(JournalTest, ListFindsOnlyThePrefixesJournals) {
  auto none = ListJournals(run_ + "/state", "lxc-", &log_);  // no state directory yet
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_TRUE(none->empty());
  Put("lxc-100.json", "{}");
  Put("lxc-.json", "{}");
  Put("restore-c1.json", "{}");
  Put("lxc-101.json.bak", "{}");
  Put("xlxc-102.json", "{}");
  auto r = ListJournals(run_ + "/state", "lxc-", &log_);
  ASSERT_TRUE(r.ok());
  std::vector<std::string> got = *r;
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{State("lxc-.json"), State("lxc-100.json")}));
  auto restores = ListJournals(run_ + "/state", "restore-", &log_);
  ASSERT_TRUE(restores.ok());
  EXPECT_EQ(*restores, std::vector<std::string>{State("restore-c1.json")});
}

TEST_F(JournalTest, ListRemovesOnlyOldTempsOfItsPrefix) {
  Put("lxc-100.json.tmp.AAAAAA", "{");
  Put("lxc-101.json.tmp.BBBBBB", "{");    // fresh: may be a live write
  Put("restore-c.json.tmp.CCCCCC", "{");  // another prefix's
  struct timeval old[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
  ASSERT_EQ(::utimes(State("lxc-100.json.tmp.AAAAAA").c_str(), old), 0);
  ASSERT_EQ(::utimes(State("restore-c.json.tmp.CCCCCC").c_str(), old), 0);
  auto r = ListJournals(run_ + "/state", "lxc-", &log_);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_FALSE(PathExists(State("lxc-100.json.tmp.AAAAAA")));
  EXPECT_TRUE(PathExists(State("lxc-101.json.tmp.BBBBBB")));
  EXPECT_TRUE(PathExists(State("restore-c.json.tmp.CCCCCC")));
  ASSERT_EQ(log_.lines.size(), 1u);
  EXPECT_EQ(log_.lines[0], "removed \"" + State("lxc-100.json.tmp.AAAAAA") +
                               "\", a journal write interrupted by a crash");
}

TEST_F(JournalTest, ListFailsOnAnUnreadableStateDirectory) {
  Put("lxc-1.json", "{}");
  ASSERT_TRUE(RemoveTree(run_ + "/state").ok());
  ASSERT_TRUE(WriteFileAtomic(run_ + "/state", "not a directory").ok());
  EXPECT_FALSE(ListJournals(run_ + "/state", "lxc-", &log_).ok());
}

TEST_F(JournalTest, RepairRemovesTheRepairedKeepsTheRestAndReturnsTheFirstError) {
  for (const char* n : {"a", "b", "c", "d", "e"}) Put(std::string("lxc-") + n + ".json", n);
  std::vector<std::string> paths;
  for (const char* n : {"a", "b", "c", "d", "e"})
    paths.push_back(State(std::string("lxc-") + n + ".json"));
  paths.push_back(State("lxc-gone.json"));  // vanished: skipped
  std::vector<std::string> seen;
  auto r = RepairJournals(
      paths, [&](const std::string& path, const std::string& text) -> Result<JournalRepair> {
        seen.push_back(text);
        if (text == "b") return JournalRepair::kSkipped;
        if (text == "c") return IOError("c failed");
        if (text == "d") return IOError("d failed");
        return JournalRepair::kRepaired;
      });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "c failed");
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_FALSE(PathExists(paths[0]));
  EXPECT_TRUE(PathExists(paths[1]));
  EXPECT_TRUE(PathExists(paths[2]));
  EXPECT_TRUE(PathExists(paths[3]));
  EXPECT_FALSE(PathExists(paths[4]));  // handled after the errors
}

TEST_F(JournalTest, ListOfDirsFindsTheNewAndTheLegacyPlace) {
  Put("lxc-1.json", "{}");  // <run>/state: where older versions wrote
  ASSERT_TRUE(WriteJournal(run_ + "/journal/lxc-2.json", "{}").ok());
  auto none = ListJournals(JournalDirs{run_ + "/missing", run_ + "/missing2", "b"}, "lxc-", &log_);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto r = ListJournals(JournalDirs{run_ + "/journal", run_ + "/state", "b"}, "lxc-", &log_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, (std::vector<std::string>{run_ + "/journal/lxc-2.json", State("lxc-1.json")}));
}

TEST_F(JournalTest, MakeJournalDirsPlacesJournalsOnDiskWithThisBootsId) {
  JournalDirs d = MakeJournalDirs("/var/lib/ctdump", "/run/ctdump");
  EXPECT_EQ(d.dir, "/var/lib/ctdump/journal");
  EXPECT_EQ(d.legacy_dir, "/run/ctdump/state");
  EXPECT_EQ(d.boot_id, CurrentBootId());
  EXPECT_EQ(d.boot_id.size(), 36u) << d.boot_id;  // a UUID, no newline
}

TEST_F(JournalTest, AJournalOfAnotherBootIsAbandonedEvenWithALivePid) {
  const pid_t live = ::getpid();
  pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  int status;
  ASSERT_EQ(::waitpid(dead, &status, 0), dead);
  EXPECT_EQ(ClassifyWriter(live, "boot-a", "boot-a"), JournalWriter::kRunning);
  EXPECT_EQ(ClassifyWriter(dead, "boot-a", "boot-a"), JournalWriter::kDead);
  EXPECT_EQ(ClassifyWriter(live, "boot-a", "boot-b"), JournalWriter::kPreviousBoot);
  EXPECT_EQ(ClassifyWriter(dead, "boot-a", "boot-b"), JournalWriter::kPreviousBoot);
  // No boot id in the journal (an older version's) or none readable: the pid.
  EXPECT_EQ(ClassifyWriter(live, "", "boot-b"), JournalWriter::kRunning);
  EXPECT_EQ(ClassifyWriter(dead, "", "boot-b"), JournalWriter::kDead);
  EXPECT_EQ(ClassifyWriter(live, "boot-a", ""), JournalWriter::kRunning);
}

TEST_F(JournalTest, WriteCreatesTheJournalDirectory) {
  std::string path = JournalPath(run_ + "/var/journal", "restore-", "c");
  EXPECT_EQ(path, run_ + "/var/journal/restore-c.json");
  ASSERT_TRUE(WriteJournal(path, "{}\n").ok());
  EXPECT_EQ(*ReadFile(path), "{}\n");
}

TEST_F(JournalTest, RepairCountsWhatItRemoved) {
  Put("lxc-a.json", "a");
  Put("lxc-b.json", "b");
  auto r = RepairJournals({State("lxc-a.json"), State("lxc-b.json")},
                          [](const std::string&, const std::string& text) -> Result<JournalRepair> {
                            return text == "a" ? JournalRepair::kRepaired : JournalRepair::kSkipped;
                          });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1);
  EXPECT_TRUE(RepairJournals({}, nullptr).ok());
}

}  // namespace
}  // namespace ctdump::sys
