#include "base/utf8.h"

#include <gtest/gtest.h>

namespace ctdump {
namespace {

TEST(Utf8Test, WellFormedSequences) {
  struct {
    std::string s;
    size_t len;
    uint32_t cp;
  } ok[] = {{"a", 1, 0x61},
            {"\xC3\xA4", 2, 0xE4},
            {"\xE2\x82\xAC", 3, 0x20AC},
            {"\xED\x9F\xBF", 3, 0xD7FF},
            {"\xEF\xBF\xBD", 3, 0xFFFD},
            {"\xF0\x9F\x98\x80", 4, 0x1F600},
            {"\xF4\x8F\xBF\xBF", 4, 0x10FFFF}};
  for (const auto& c : ok) {
    uint32_t cp = 0;
    EXPECT_EQ(Utf8SequenceLength(c.s, 0, &cp), c.len) << c.s;
    EXPECT_EQ(cp, c.cp) << c.s;
    EXPECT_TRUE(IsValidUtf8(c.s));
  }
  // Overlong, surrogates, above U+10FFFF, stray continuation, truncated.
  for (std::string bad : {"\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80",
                          "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\x80", "\xC3", "\xE2\x82"}) {
    EXPECT_EQ(Utf8SequenceLength(bad, 0), 0u) << testing::PrintToString(bad);
    EXPECT_FALSE(IsValidUtf8(bad));
  }
  EXPECT_EQ(Utf8SequenceLength("", 0), 0u);
}

TEST(Utf8Test, MaximalSubpartsBecomeOneReplacementEach) {
  const std::string R = "\xEF\xBF\xBD";
  struct {
    std::string in, out;
  } cases[] = {
      {"plain", "plain"},
      {"a\x80z", "a" + R + "z"},
      {"\x80\x80", R + R},          // two stray continuations: two
      {"\xE2\x82z", R + "z"},       // a truncated sequence: one
      {"\xF0\x9F\x98", R},          // truncated at the end: one
      {"\xC0\xAF", R + R},          // C0 cannot lead: each byte alone
      {"\xED\xA0\x80", R + R + R},  // a surrogate: A0 is outside ED's range
      {"\xF4\x90\x80\x80", R + R + R + R},
      {"\xE2\x82\xAC\xFF", "\xE2\x82\xAC" + R},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ToValidUtf8(c.in), c.out) << testing::PrintToString(c.in);
    EXPECT_TRUE(IsValidUtf8(ToValidUtf8(c.in)));
  }
}

}  // namespace
}  // namespace ctdump
