#include "tasks/task_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "sys/file.h"

namespace ctdump::tasks {
namespace {

std::vector<LogLine> L(std::initializer_list<LogLine> l) { return l; }

TEST(TaskLogReadTest, Windows) {
  const std::string_view text = "a\nb\nc\nd\n";
  struct Case {
    uint64_t start, limit;
    std::vector<LogLine> want;
  } cases[] = {
      {0, 50, L({{1, "a"}, {2, "b"}, {3, "c"}, {4, "d"}})},
      {0, 0, L({{1, "a"}, {2, "b"}, {3, "c"}, {4, "d"}})},
      {1, 2, L({{2, "b"}, {3, "c"}})},
      {3, 0, L({{4, "d"}})},
      {3, 5, L({{4, "d"}})},
      {4, 0, L({})},
      {100, 1, L({})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::Message() << c.start << "," << c.limit);
    LogPage p = PageLog(text, c.start, c.limit);
    EXPECT_EQ(p.lines, c.want);
    EXPECT_EQ(p.total, 4u);
  }
}

TEST(TaskLogReadTest, EmptyFileSaysNoContent) {
  LogPage p = PageLog("", 0, 50);
  EXPECT_EQ(p.lines, L({{1, "no content"}}));
  EXPECT_EQ(p.total, 1u);
}

TEST(TaskLogReadTest, LastLineWithoutNewline) {
  LogPage p = PageLog("a\n\nTASK OK", 0, 0);
  EXPECT_EQ(p.lines, L({{1, "a"}, {2, ""}, {3, "TASK OK"}}));
  EXPECT_EQ(p.total, 3u);
}

TEST(TaskLogReadTest, InvalidUtf8BecomesReplacement) {
  // Bad bytes are replaced as base/utf8.h says (its tests have the cases).
  LogPage p = PageLog("ok\nbad \xFF\n", 1, 1);
  EXPECT_EQ(p.lines, L({{2, "bad \xEF\xBF\xBD"}}));
}

TEST(TaskLogReadTest, ReadsFiles) {
  auto dir = sys::MakeTempDir("/tmp/ctdump-tasklog-");
  ASSERT_TRUE(dir.ok());
  std::string path = *dir + "/log";
  auto missing = ReadTaskLog(path, 0, 50);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "no such task");
  ASSERT_TRUE(sys::WriteFileAtomic(path, "x\ny\n").ok());
  auto p = ReadTaskLog(path, 1, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lines, L({{2, "y"}}));
  EXPECT_EQ(p->total, 2u);
  ASSERT_TRUE(sys::RemoveTree(*dir).ok());
}

}  // namespace
}  // namespace ctdump::tasks
