#include "backup/guest_progress.h"

#include <gtest/gtest.h>

#include <vector>

#include "sys/file.h"

namespace ctdump::backup {
namespace {

struct Recorder : public Observer {
  void Log(LogLevel, std::string_view) noexcept override {}
  void OnProgress(const Progress& p) noexcept override { seen.push_back(p); }
  std::vector<Progress> seen;
};

Progress Bytes(uint64_t bytes, std::string phase = "") {
  Progress p;
  p.bytes = bytes;
  p.phase = std::move(phase);
  return p;
}

TEST(GuestProgressTest, NamesThePhaseAndFillsInThePreviousTotal) {
  Recorder r;
  GuestProgress g(&r, 1000);
  EXPECT_EQ(g.logical_bytes(), std::nullopt);
  g.OnProgress(Bytes(10));
  g.OnProgress(Bytes(700));
  Progress own = Bytes(800);
  own.total_bytes = 900;  // the producer knows better
  g.OnProgress(own);
  ASSERT_EQ(r.seen.size(), 3u);
  EXPECT_EQ(r.seen[0].phase, "backup");
  EXPECT_EQ(r.seen[0].total_bytes, 1000u);
  EXPECT_EQ(r.seen[2].total_bytes, 900u);
  EXPECT_EQ(g.logical_bytes(), 800u);
}

TEST(GuestProgressTest, OtherPhasesPassUnchangedAndDoNotCount) {
  Recorder r;
  GuestProgress g(&r, std::nullopt);
  g.OnProgress(Bytes(5000, "rsync-first"));
  g.OnProgress(Bytes(20));
  ASSERT_EQ(r.seen.size(), 2u);
  EXPECT_EQ(r.seen[0].phase, "rsync-first");
  EXPECT_EQ(r.seen[0].total_bytes, std::nullopt);
  EXPECT_EQ(r.seen[1].total_bytes, std::nullopt);
  EXPECT_EQ(g.logical_bytes(), 20u);
}

TEST(RemoveTreeWithProgressTest, RemovesAndStaysQuietForASmallTree) {
  auto dir = sys::MakeTempDir("/var/tmp/ctdump-guest-progress-test.", 0700);
  ASSERT_TRUE(dir.ok()) << dir.status().message();
  ASSERT_TRUE(sys::WriteFileAtomic(*dir + "/f", "12345").ok());
  Recorder r;
  ASSERT_TRUE(RemoveTreeWithProgress(*dir, &r).ok());
  EXPECT_FALSE(sys::PathExists(*dir));
  EXPECT_TRUE(r.seen.empty());  // two entries: far below 250 ms
  // A tree large enough to take longer than 250 ms to remove is a slow test;
  // the counting itself is FileTest.RemoveTreeCountsWhatItRemoves.
}

}  // namespace
}  // namespace ctdump::backup
