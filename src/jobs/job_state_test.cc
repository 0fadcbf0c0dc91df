#include "jobs/job_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "sys/file.h"
#include "sys/lock_file.h"

namespace ctdump::jobs {
namespace {

TEST(JobStateTest, RoundTripThroughAFile) {
  auto dir = sys::MakeTempDir("/tmp/jobs_state_test.");
  ASSERT_TRUE(dir.ok());
  std::string path = JobStatePath(*dir, "vzdump-daily");
  EXPECT_EQ(path, *dir + "/jobs/vzdump-daily.json");
  auto empty = LoadJobState(path);
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_EQ(*empty, JobState());

  JobState s;
  s.created = 1796342400;
  s.last_start = 1796342460;
  s.last_end = 1796342490;
  s.last_skip = 1796342000;
  s.result = "error";
  s.message = "c1: \"quoted\" and \xff bytes";
  s.pid = 4242;
  ASSERT_TRUE(SaveJobState(path, s).ok());
  auto back = LoadJobState(path);
  ASSERT_TRUE(back.ok()) << back.status().message();
  s.message = "c1: \"quoted\" and \xef\xbf\xbd bytes";  // not UTF-8: replaced
  EXPECT_EQ(*back, s);
  // No temporary file stays behind.
  auto again = SaveJobState(path, JobState());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*LoadJobState(path), JobState());
  ASSERT_TRUE(sys::RemoveTree(*dir).ok());
}

TEST(JobStateTest, BadStateIsAnErrorNamingTheFile) {
  for (const char* text :
       {"", "[]", "{\"last-start\":\"x\"}", "{\"result\":\"maybe\"}", "{\"message\":3}", "{"}) {
    auto s = DecodeJobState(text, "/s/jobs/gc-a.json");
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
    EXPECT_THAT(s.status().message(), ::testing::StartsWith("/s/jobs/gc-a.json: ")) << text;
  }
  auto s = DecodeJobState("{\"unknown\":1,\"pid\":null}", "x");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, JobState());
}

// "Running" is the job lock held, not a pid that may have been reused.
TEST(JobStateTest, JobLockHeld) {
  auto dir = sys::MakeTempDir("/tmp/jobs_state_test.");
  ASSERT_TRUE(dir.ok());
  std::string path = JobLockPath(*dir, "gc-g");
  EXPECT_EQ(path, *dir + "/job-gc-g.lock");
  auto held = JobLockHeld(path);
  ASSERT_TRUE(held.ok()) << held.status().message();
  EXPECT_FALSE(*held);  // no file
  {
    auto lock = sys::LockFile::Acquire(path, std::chrono::milliseconds(0), nullptr);
    ASSERT_TRUE(lock.ok()) << lock.status().message();
    held = JobLockHeld(path);
    ASSERT_TRUE(held.ok());
    EXPECT_TRUE(*held);
    // Testing took nothing: the holder is still the only one.
    EXPECT_FALSE(sys::LockFile::Acquire(path, std::chrono::milliseconds(0), nullptr).ok());
  }
  held = JobLockHeld(path);
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(*held);
  // Testing leaves the lock free for the next holder.
  EXPECT_TRUE(sys::LockFile::Acquire(path, std::chrono::milliseconds(0), nullptr).ok());
}

TEST(JobStateTest, StartedWithoutEnd) {
  JobState s;
  EXPECT_FALSE(StartedWithoutEnd(s));
  s.last_start = 100;
  EXPECT_TRUE(StartedWithoutEnd(s));
  s.last_end = 50;  // the previous run's end
  EXPECT_TRUE(StartedWithoutEnd(s));
  s.last_end = 100;
  EXPECT_FALSE(StartedWithoutEnd(s));
}

}  // namespace
}  // namespace ctdump::jobs
