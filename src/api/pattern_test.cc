#include "api/pattern.h"

#include <gtest/gtest.h>

#include <string>

namespace ctdump::api {
namespace {

struct Case {
  const char* pattern;
  const char* value;
  bool match;
};

TEST(PatternTest, Table) {
  const Case cases[] = {
      {"abc", "abc", true},
      {"abc", "abcd", false},
      {"abc", "ab", false},
      {"[a-z][a-z0-9_]+", "backup_1", true},
      {"[a-z][a-z0-9_]+", "b", false},
      {"[a-z][a-z0-9_]+", "1b", false},
      {"\\d{8}", "12345678", true},
      {"\\d{8}", "1234567", false},
      {"\\d{2,3}", "123", true},
      {"\\d{2,3}", "1234", false},
      {"\\d{2,}", "123456", true},
      {"a?b*c", "c", true},
      {"a?b*c", "abbbc", true},
      {"a?b*c", "aabc", false},
      {"[^/]+", "a/b", false},
      {"[^/]+", "ab", true},
      {".*", "", true},
      {"a\\.b", "a.b", true},
      {"a\\.b", "axb", false},
      {"[-a]+", "-a-", true},
      {"\\w+", "a_1", true},
      {"\\s", " ", true},
  };
  for (const Case& c : cases) {
    Result<Pattern> p = Pattern::Compile(c.pattern);
    ASSERT_TRUE(p.ok()) << c.pattern << ": " << p.status().message();
    EXPECT_EQ(p->Matches(c.value), c.match) << c.pattern << " ~ " << c.value;
  }
}

TEST(PatternTest, RefusesWhatItCannotMatchSafely) {
  for (const char* bad : {"(a)", "a|b", "^a", "a$", "*a", "a{65}", "a{3,2}", "[a", "a\\", "a{x}"}) {
    Result<Pattern> p = Pattern::Compile(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    }
  }
}

// The classic backtracking bomb: linear here.
TEST(PatternTest, HostileValueIsLinear) {
  Result<Pattern> p = Pattern::Compile("a*a*a*a*a*a*a*a*a*a*b");
  ASSERT_TRUE(p.ok());
  std::string value(100000, 'a');
  EXPECT_FALSE(p->Matches(value));
}

}  // namespace
}  // namespace ctdump::api
