#include "restore/restore_journal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "sys/file.h"
#include "sys/journal.h"

namespace ctdump::restore {
namespace {

class LogLines : public Observer {
 public:
  void Log(LogLevel, std::string_view message) noexcept override { lines.emplace_back(message); }
  std::vector<std::string> lines;
};

// A restore by this (live) process in "boot-a" that has created its
// container's directory and root file system and written a config that
// lxc-autostart would start.
class RestoreJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-restore-journal-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    run_ = root_ + "/run";
    dirs_ = {root_ + "/state/journal", run_ + "/state", "boot-a"};
    ct_dir_ = root_ + "/lxc/c1";
  }
  void TearDown() override { ASSERT_TRUE(sys::RemoveTree(root_).ok()); }

  void Restore(bool throwaway) {
    journal_ = std::make_unique<RestoreJournal>(dirs_, "c1", ct_dir_, throwaway);
    ASSERT_TRUE(journal_->WillCreateDir(ct_dir_).ok());
    ASSERT_TRUE(journal_->WillCreateDir(ct_dir_ + "/rootfs").ok());
    ASSERT_TRUE(sys::MakeDirs(ct_dir_ + "/rootfs/etc").ok());
    ASSERT_TRUE(sys::WriteFileAtomic(ct_dir_ + "/config",
                                     "lxc.uts.name = c1\nlxc.start.auto = 1\n"
                                     "lxc.rootfs.path = dir:" +
                                         ct_dir_ + "/rootfs\n")
                    .ok());
  }
  sys::JournalDirs AfterReboot() const {
    sys::JournalDirs d = dirs_;
    d.boot_id = "boot-b";
    return d;
  }
  std::string Path() const { return dirs_.dir + "/restore-c1.json"; }

  std::string root_, run_, ct_dir_;
  sys::JournalDirs dirs_;
  std::unique_ptr<RestoreJournal> journal_;
  LogLines log_;
};

TEST_F(RestoreJournalTest, ALiveRestoreOfThisBootIsLeftAlone) {
  Restore(true);
  auto r = RepairAbandonedRestores(dirs_, run_, &log_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, 0);
  EXPECT_TRUE(sys::PathExists(Path()));
  EXPECT_TRUE(sys::PathExists(ct_dir_ + "/config"));
}

// After a reboot the pid may be anybody's: the restore test's container is
// removed, its config included (lxc-autostart must not find it).
TEST_F(RestoreJournalTest, AnotherBootsRestoreTestContainerIsRemovedEvenWithALivePid) {
  Restore(true);
  auto text = sys::ReadFile(Path());
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\"boot_id\":\"boot-a\""), std::string::npos) << *text;
  auto r = RepairAbandonedRestores(AfterReboot(), run_, &log_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, 1);
  EXPECT_FALSE(sys::PathExists(ct_dir_));
  EXPECT_FALSE(sys::PathExists(Path()));
}

TEST_F(RestoreJournalTest, AnotherBootsHalfRestoredContainerWithoutConfigIsRemoved) {
  Restore(false);
  ASSERT_EQ(::unlink((ct_dir_ + "/config").c_str()), 0);
  auto r = RepairAbandonedRestores(AfterReboot(), run_, &log_, "");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, 1);
  EXPECT_FALSE(sys::PathExists(ct_dir_));
  EXPECT_FALSE(sys::PathExists(Path()));
}

// A config is written only once the restore is on disk: that container is
// left alone, only the journal goes.
TEST_F(RestoreJournalTest, AnotherBootsFinishedRestoreIsLeftAlone) {
  Restore(false);
  auto r = RepairAbandonedRestores(AfterReboot(), run_, &log_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, 1);
  EXPECT_TRUE(sys::PathExists(ct_dir_ + "/config"));
  EXPECT_TRUE(sys::PathExists(ct_dir_ + "/rootfs/etc"));
  EXPECT_FALSE(sys::PathExists(Path()));
}

TEST_F(RestoreJournalTest, ARestoreOfOneNameFindsAnOlderVersionsJournal) {
  ASSERT_TRUE(sys::MakeDirs(ct_dir_ + "/rootfs").ok());
  ASSERT_TRUE(sys::WriteJournal(dirs_.legacy_dir + "/restore-c1.json",
                                "{\"pid\":999999999,\"name\":\"c1\",\"ct_dir\":\"" + ct_dir_ +
                                    "\",\"dirs\":[\"" + ct_dir_ + "\",\"" + ct_dir_ +
                                    "/rootfs\"],\"subvolume\":\"\"}\n")
                  .ok());
  auto r = RepairAbandonedRestores(dirs_, run_, &log_, "c1");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, 1);
  EXPECT_FALSE(sys::PathExists(ct_dir_));
  EXPECT_FALSE(sys::PathExists(dirs_.legacy_dir + "/restore-c1.json"));
}

}  // namespace
}  // namespace ctdump::restore
