#include "access/token_shadow.h"

#include <gtest/gtest.h>

#include <regex>

#include "access/random.h"

namespace ctdump::access {
namespace {

constexpr char kSecret[] = "d8a1c0e4-1f5b-4c2e-9a1d-2f3b4c5d6e7f";

TEST(TokenShadowTest, SetVerifyRemove) {
  TokenShadow s = TokenShadow::Parse("", "token.shadow");
  s.Set("backup@ctdump!ci", kSecret);
  EXPECT_TRUE(s.Has("backup@ctdump!ci"));
  EXPECT_TRUE(s.Verify("backup@ctdump!ci", kSecret));
  EXPECT_FALSE(s.Verify("backup@ctdump!ci", "d8a1c0e4-1f5b-4c2e-9a1d-2f3b4c5d6e7e"));
  EXPECT_FALSE(s.Verify("backup@ctdump!ci", ""));
  EXPECT_FALSE(s.Verify("backup@ctdump!other", kSecret));
  EXPECT_FALSE(s.Verify("backup@ctdump", kSecret));
  std::string text = s.Serialize();
  EXPECT_EQ(text, "backup@ctdump!ci " + HashTokenSecret(kSecret) + "\n");
  EXPECT_EQ(text.find(kSecret), std::string::npos);
  EXPECT_TRUE(std::regex_match(HashTokenSecret(kSecret), std::regex("sha256:[0-9a-f]{64}")));

  TokenShadow back = TokenShadow::Parse(text, "token.shadow");
  EXPECT_TRUE(back.problems().empty());
  EXPECT_TRUE(back.Verify("backup@ctdump!ci", kSecret));
  s.Set("backup@ctdump!ci", "new");  // replaced in place
  EXPECT_FALSE(s.Verify("backup@ctdump!ci", kSecret));
  EXPECT_TRUE(s.Verify("backup@ctdump!ci", "new"));
  EXPECT_TRUE(s.Remove("backup@ctdump!ci"));
  EXPECT_FALSE(s.Remove("backup@ctdump!ci"));
  EXPECT_EQ(s.Serialize(), "");
}

TEST(TokenShadowTest, BadLinesAreReportedWithoutTheirTextAndKept) {
  std::string good = "a@pam!tt " + HashTokenSecret("x");
  std::string text =
      "# comment\n" + good + "\nb@pam!tt plaintext-secret-123\nb@pam!tt\n" + good + "\n";
  TokenShadow s = TokenShadow::Parse(text, "/etc/ctdump/priv/token.shadow");
  ASSERT_EQ(s.problems().size(), 3u);
  EXPECT_EQ(s.problems()[0].rfind("/etc/ctdump/priv/token.shadow:3: ", 0), 0u);
  for (const std::string& p : s.problems())
    EXPECT_EQ(p.find("plaintext-secret-123"), std::string::npos) << p;
  EXPECT_TRUE(s.Verify("a@pam!tt", "x"));
  EXPECT_FALSE(s.Has("b@pam!tt"));
  EXPECT_EQ(s.Serialize(), text);
  EXPECT_TRUE(s.Remove("a@pam!tt"));  // both of its lines
  EXPECT_EQ(s.Serialize(), "# comment\nb@pam!tt plaintext-secret-123\nb@pam!tt\n");
}

TEST(RandomTest, UuidV4) {
  std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  Result<std::string> a = NewUuidV4(), b = NewUuidV4();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(std::regex_match(*a, re)) << *a;
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace ctdump::access
