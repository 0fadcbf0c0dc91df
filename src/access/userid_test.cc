#include "access/userid.h"

#include <gtest/gtest.h>

namespace ctdump::access {
namespace {

TEST(UserIdTest, Valid) {
  struct Case {
    const char* in;
    const char* name;
    const char* realm;
  };
  for (const Case& c : {Case{"root@pam", "root", "pam"}, Case{"backup@ctdump", "backup", "ctdump"},
                        Case{"a.b-c_d@my-realm.1", "a.b-c_d", "my-realm.1"},
                        Case{"mail@example.com@pam", "mail@example.com", "pam"}}) {
    Result<UserId> id = ParseUserId(c.in);
    ASSERT_TRUE(id.ok()) << c.in << ": " << id.status().message();
    EXPECT_EQ(id->name, c.name);
    EXPECT_EQ(id->realm, c.realm);
    EXPECT_EQ(id->full, c.in);
  }
}

TEST(UserIdTest, Invalid) {
  for (const char* in :
       {"", "root", "@pam", "root@", "root@p", "root@1pam", "ro ot@pam", "ro:ot@pam", "ro/ot@pam",
        "ro,ot@pam", "root@pa m", "ro\tot@pam", "ro\x01ot@pam", "root@pam!tok"}) {
    Result<UserId> id = ParseUserId(in);
    EXPECT_FALSE(id.ok()) << in;
    if (!id.ok()) {
      EXPECT_EQ(id.status().code(), Code::kInvalidArgument);
    }
  }
  EXPECT_FALSE(ParseUserId(std::string(60, 'a') + "@pam").ok());  // 64 characters
  EXPECT_TRUE(ParseUserId(std::string(59, 'a') + "@pam").ok());   // 63
}

TEST(UserIdTest, ControlCharactersAreNotEchoed) {
  Result<UserId> id = ParseUserId("a\nb@pam");
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().message().find('\n'), std::string::npos);
  EXPECT_NE(id.status().message().find("a\\x0ab@pam"), std::string::npos);
}

TEST(TokenIdTest, ParseAndSplit) {
  Result<TokenId> t = ParseTokenId("backup@ctdump!ci");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->userid, "backup@ctdump");
  EXPECT_EQ(t->name, "ci");
  EXPECT_EQ(t->full, "backup@ctdump!ci");
  for (const char* in : {"backup@ctdump", "backup@ctdump!", "backup@ctdump!c", "backup@ctdump!1ci",
                         "backup@ctdump!c i", "!ci", "backup!ci", "backup@ctdump!ci!x"})
    EXPECT_FALSE(ParseTokenId(in).ok()) << in;
  EXPECT_TRUE(IsTokenId("a@b!c"));
  EXPECT_FALSE(IsTokenId("a@b"));
}

TEST(NamesTest, GroupsRolesTokens) {
  EXPECT_TRUE(CheckGroupId("admins").ok());
  EXPECT_TRUE(CheckGroupId("a").ok());
  EXPECT_FALSE(CheckGroupId("").ok());
  EXPECT_FALSE(CheckGroupId("ad mins").ok());
  EXPECT_TRUE(CheckRoleId("CtdumpOperator").ok());
  EXPECT_FALSE(CheckRoleId("Ctdump:Op").ok());
  EXPECT_TRUE(CheckTokenName("ci-1.x_y").ok());
  EXPECT_FALSE(CheckTokenName("c").ok());
  EXPECT_FALSE(CheckTokenName("-ci").ok());
}

}  // namespace
}  // namespace ctdump::access
