#include "tasks/task_status.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "sys/file.h"

namespace ctdump::tasks {
namespace {

TEST(TaskStatusTest, ExitStatusOfFinalLine) {
  const struct {
    const char* line;
    const char* status;
  } cases[] = {
      {"TASK OK", "OK"},
      {"TASK OK\n", "OK"},
      {"TASK WARNINGS: 2", "WARNINGS: 2"},
      {"TASK WARNINGS: 0", "WARNINGS: 0"},
      {"TASK ERROR: job errors", "job errors"},
      {"TASK ERROR: interrupted by signal", "interrupted by signal"},
      {"TASK ERROR: a: b: c", "a: b: c"},
      {"TASK ERROR: ", "unexpected status"},
      {"TASK ERROR:", "unexpected status"},
      {"TASK WARNINGS: x", "unexpected status"},
      {"TASK WARNINGS: ", "unexpected status"},
      {"TASK OK ", "unexpected status"},
      {"task ok", "unexpected status"},
      {"INFO: Finished Backup of VM c1", "unexpected status"},
      {"", "unexpected status"},
  };
  for (const auto& c : cases) EXPECT_EQ(ExitStatusOfLine(c.line), c.status) << c.line;
}

TEST(TaskStatusTest, ReadsTheLastLine) {
  auto dir = sys::MakeTempDir("/tmp/ctdump-taskstatus-");
  ASSERT_TRUE(dir.ok());
  const struct {
    std::string content, last;
  } cases[] = {
      {"", ""},
      {"TASK OK", "TASK OK"},
      {"INFO: a\nTASK OK\n", "TASK OK"},
      {"INFO: a\nTASK ERROR: x\n", "TASK ERROR: x"},
      {std::string(40000, 'a') + "\nTASK WARNINGS: 3\n", "TASK WARNINGS: 3"},
      {"INFO: a\n", "INFO: a"},
  };
  for (const auto& c : cases) {
    std::string path = *dir + "/log";
    ASSERT_TRUE(sys::WriteFileAtomic(path, c.content).ok());
    auto last = ReadLastLine(path);
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(*last, c.last);
  }
  auto missing = ReadExitStatus(*dir + "/none");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "no such task");
  ASSERT_TRUE(sys::RemoveTree(*dir).ok());
}

TEST(TaskStatusTest, RunningNeedsPidAndStartTime) {
  auto start = ProcessStartTime(::getpid());
  ASSERT_TRUE(start.ok()) << start.status().message();
  Upid me{"n", static_cast<uint32_t>(::getpid()), *start, 1, "t", "", "u"};
  EXPECT_TRUE(IsRunning(me));
  Upid reused = me;
  reused.pstart += 1;  // the same pid, another process
  EXPECT_FALSE(IsRunning(reused));
  Upid gone = me;
  gone.pid = 0x7FFFFFF0;  // above pid_max
  EXPECT_FALSE(IsRunning(gone));
  EXPECT_EQ(ProcessStartTime(0x7FFFFFF0).status().code(), Code::kNotFound);
  auto aborted = AbortTask(reused);
  ASSERT_TRUE(aborted.ok());
  EXPECT_FALSE(*aborted);  // not running: nothing signalled
}

TEST(TaskStatusTest, StateOfAStoppedTask) {
  auto dir = sys::MakeTempDir("/tmp/ctdump-taskstatus-");
  ASSERT_TRUE(dir.ok());
  Upid gone{"n", 0x7FFFFFF0, 1, 1, "t", "", "u"};
  EXPECT_EQ(GetTaskState(gone, *dir + "/x").status().message(), "no such task");
  ASSERT_TRUE(sys::WriteFileAtomic(*dir + "/x", "INFO: a\nTASK WARNINGS: 1\n").ok());
  auto st = GetTaskState(gone, *dir + "/x");
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->running);
  EXPECT_EQ(st->exitstatus, "WARNINGS: 1");
  ASSERT_TRUE(sys::RemoveTree(*dir).ok());
}

}  // namespace
}  // namespace ctdump::tasks
