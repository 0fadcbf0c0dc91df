#include "backup/task_log.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sys/file.h"

namespace ctdump::backup {
namespace {

TEST(EscapeControlTest, Table) {
  struct Case {
    std::string in, want;
  } cases[] = {
      {"", ""},
      {"plain text /srv/a b", "plain text /srv/a b"},
      {"tab\tstays", "tab\tstays"},
      {"esc\x1b[31mred", "esc\\x1b[31mred"},
      {"two\nlines\r", "two\\nlines\\r"},
      {std::string("nul\0x", 5), "nul\\x00x"},
      {"bell\x07 del\x7f", "bell\\x07 del\\x7f"},
      {"back\\slash", "back\\slash"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"bad\xff\xfe", "bad\\xff\\xfe"},
      {"csi8\x9b"
       "2J",
       "csi8\\x9b2J"},  // a lone C1 byte
      {"c1\xc2\x9b"
       "2J",
       "c1\\xc2\\x9b2J"},                // U+009B, CSI as UTF-8
      {"nbsp\xc2\xa0", "nbsp\xc2\xa0"},  // U+00A0 is printable
      {"overlong\xc0\xaf", "overlong\\xc0\\xaf"},
      {"surrogate\xed\xa0\x80", "surrogate\\xed\\xa0\\x80"},
      {"cut\xe2\x82", "cut\\xe2\\x82"},
      {"big\xf4\x90\x80\x80", "big\\xf4\\x90\\x80\\x80"},
  };
  for (const auto& c : cases) EXPECT_EQ(EscapeControl(c.in), c.want) << c.in;
}

TEST(EscapeControlTest, IsUtf8) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("esc\x1b ok caf\xc3\xa9"));
  EXPECT_FALSE(IsUtf8("bad\xff"));
  EXPECT_FALSE(IsUtf8("cut\xe2\x82"));
  EXPECT_FALSE(IsUtf8("overlong\xc0\xaf"));
}

class Collect : public Observer {
 public:
  void Log(LogLevel, std::string_view m) noexcept override { lines.emplace_back(m); }
  void OnProgress(const Progress&) noexcept override {}
  std::vector<std::string> lines;
};

TEST(TaskLogTest, FileLinesAreEscapedParentGetsTheMessage) {
  char tmpl[] = "/tmp/ctdump-tasklog-test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/lxc-c1.log";
  Collect parent;
  {
    TaskLog log(&parent);
    ASSERT_TRUE(log.Open(path).ok());
    log.Log(LogLevel::kWarn, "cannot read 'a\x1b]0;x\x07\nb'");
  }
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  std::string s = text.str();
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s.substr(s.find(' ', s.find(' ') + 1) + 1),
            "WARN: cannot read 'a\\x1b]0;x\\x07\\nb'\n");
  EXPECT_EQ(parent.lines, (std::vector<std::string>{"cannot read 'a\x1b]0;x\x07\nb'"}));
  ASSERT_TRUE(sys::RemoveTree(tmpl).ok());
}

}  // namespace
}  // namespace ctdump::backup
