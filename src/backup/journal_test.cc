#include "backup/journal.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "sys/file.h"
#include "sys/journal.h"

namespace ctdump::backup {
namespace {

class LogLines : public Observer {
 public:
  void Log(LogLevel, std::string_view message) noexcept override { lines.emplace_back(message); }
  bool Has(std::string_view start) const {
    for (const auto& l : lines)
      if (l.starts_with(start)) return true;
    return false;
  }
  std::vector<std::string> lines;
};

// A journal written in "boot-a" by this (live) process, naming a container
// that does not exist: thawing or starting it would fail.
class GuestJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-guest-journal-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dirs_ = {root_ + "/state/journal", root_ + "/run/state", "boot-a"};
    copy_ = root_ + "/copy";
    tmp_ = root_ + "/tmp";
    ASSERT_TRUE(sys::MakeDirs(copy_ + "/etc").ok());
    ASSERT_TRUE(sys::MakeDirs(tmp_).ok());
    journal_ = std::make_unique<GuestJournal>(dirs_, "no-such-ct", root_ + "/lxc");
    ASSERT_TRUE(journal_
                    ->Update([&](JournalState& j) {
                      j.stopped = true;
                      j.frozen = true;
                      j.copies = {copy_};
                      j.tmpdir = tmp_;
                    })
                    .ok());
  }
  void TearDown() override { ASSERT_TRUE(sys::RemoveTree(root_).ok()); }

  std::string Path() const { return dirs_.dir + "/lxc-no-such-ct.json"; }

  std::string root_, copy_, tmp_;
  sys::JournalDirs dirs_;
  std::unique_ptr<GuestJournal> journal_;
  LogLines log_;
};

TEST_F(GuestJournalTest, RecordsPidAndBootIdOnDisk) {
  auto text = sys::ReadFile(Path());
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_NE(text->find("\"boot_id\":\"boot-a\""), std::string::npos) << *text;
  EXPECT_NE(text->find(fmt::format("\"pid\":{}", ::getpid())), std::string::npos) << *text;
}

TEST_F(GuestJournalTest, ALiveWriterOfThisBootIsLeftAlone) {
  auto r = RepairAbandoned(dirs_, &log_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, 0);
  EXPECT_TRUE(sys::PathExists(Path()));
  EXPECT_TRUE(sys::PathExists(copy_));
  EXPECT_TRUE(sys::PathExists(tmp_));
}

TEST_F(GuestJournalTest, AnotherBootsJournalIsRepairedWithoutThawOrStart) {
  sys::JournalDirs after_reboot = dirs_;
  after_reboot.boot_id = "boot-b";
  auto r = RepairAbandoned(after_reboot, &log_);
  // The container does not exist: had the repair tried to start or thaw it,
  // it would have failed.
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, 1);
  EXPECT_FALSE(sys::PathExists(Path()));
  EXPECT_FALSE(sys::PathExists(copy_));
  EXPECT_FALSE(sys::PathExists(tmp_));
  EXPECT_FALSE(log_.Has("starting container"));
  EXPECT_FALSE(log_.Has("thawing container"));
  EXPECT_TRUE(log_.Has("not starting container 'no-such-ct': its backup"));
}

TEST_F(GuestJournalTest, ADeadWriterOfThisBootIsRepairedWithThawAndStart) {
  // The same journal, as a dead process of this boot wrote it.
  auto text = sys::ReadFile(Path());
  ASSERT_TRUE(text.ok());
  std::string t = *text;
  std::string pid = fmt::format("\"pid\":{}", ::getpid());
  t.replace(t.find(pid), pid.size(), "\"pid\":999999999");
  ASSERT_TRUE(sys::WriteFileAtomic(Path(), t).ok());
  auto r = RepairAbandoned(dirs_, &log_);
  // It tries the container (which does not exist: an error, the journal
  // stays) and still removes the copy and the tmpdir.
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(sys::PathExists(Path()));
  EXPECT_FALSE(sys::PathExists(copy_));
  EXPECT_FALSE(sys::PathExists(tmp_));
}

TEST_F(GuestJournalTest, AnOlderVersionsJournalInTheRunDirIsFound) {
  ASSERT_TRUE(journal_->Clear().ok());
  ASSERT_TRUE(
      sys::WriteJournal(dirs_.legacy_dir + "/lxc-old.json",
                        fmt::format("{{\"pid\":999999999,\"vmid\":\"old\",\"lxcpath\":\"{}\","
                                    "\"stopped\":false,\"frozen\":false,\"snapshots\":[],"
                                    "\"copies\":[\"{}\"],\"tmpdir\":\"\"}}\n",
                                    root_ + "/lxc", copy_))
          .ok());
  auto r = RepairAbandoned(dirs_, &log_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, 1);
  EXPECT_FALSE(sys::PathExists(dirs_.legacy_dir + "/lxc-old.json"));
  EXPECT_FALSE(sys::PathExists(copy_));
}

}  // namespace
}  // namespace ctdump::backup
