#include "access/token_auth.h"

#include <gtest/gtest.h>

namespace ctdump::access {
namespace {

constexpr char kSecret[] = "d8a1c0e4-1f5b-4c2e-9a1d-2f3b4c5d6e7f";
constexpr int64_t kNow = 1800000000;

TEST(TokenHeaderTest, Parse) {
  struct Case {
    const char* header;
    const char* tokenid;  // nullptr: no token
    const char* secret;
  };
  const Case cases[] = {
      {"PVEAPIToken=root@pam!ci=d8a1", "root@pam!ci", "d8a1"},
      {"PVEAPIToken root@pam!ci=d8a1", "root@pam!ci", "d8a1"},
      {"CTDUMPAPIToken=backup@ctdump!ci=x", "backup@ctdump!ci", "x"},
      {"PVEAPIToken=a@pam!t%3Dx=s", "a@pam!t=x", "s"},  // decoded, split at the last '='
      {"PVEAPIToken=a@pam!tt=s; other=1", "a@pam!tt", "s"},
      {"PVEAPIToken=a@pam!tt=", "a@pam!tt", ""},
      {"PVEAPIToken=a@pam!tt", nullptr, nullptr},
      {"PVEAuthCookie=PVE:root@pam:X::sig", nullptr, nullptr},
      {"XPVEAPIToken=a@pam!tt=s", nullptr, nullptr},
      {"", nullptr, nullptr},
  };
  for (const Case& c : cases) {
    std::optional<TokenCredentials> t = ParseTokenHeader(c.header);
    if (c.tokenid == nullptr) {
      EXPECT_FALSE(t) << c.header;
      continue;
    }
    ASSERT_TRUE(t) << c.header;
    EXPECT_EQ(t->tokenid, c.tokenid) << c.header;
    EXPECT_EQ(t->secret, c.secret) << c.header;
  }
}

TEST(TokenAuthTest, Authenticate) {
  UserConfig cfg = UserConfig::Parse(
      "user:backup@ctdump:1:0:\n"
      "user:off@ctdump:0:0:\n"
      "token:backup@ctdump!ci:0:1::\n"
      "token:backup@ctdump!old:1700000000:1::\n"
      "token:off@ctdump!ci:0:1::\n",
      "user.cfg");
  TokenShadow shadow = TokenShadow::Parse("", "token.shadow");
  for (const char* id :
       {"backup@ctdump!ci", "backup@ctdump!old", "off@ctdump!ci", "backup@ctdump!gone"})
    shadow.Set(id, kSecret);
  EXPECT_TRUE(AuthenticateToken(cfg, shadow, "backup@ctdump!ci", kSecret, kNow).ok());
  for (const auto& [id, secret] : std::vector<std::pair<std::string, std::string>>{
           {"backup@ctdump!ci", "wrong"},
           {"backup@ctdump!ci", ""},
           {"backup@ctdump!old", kSecret},   // expired
           {"off@ctdump!ci", kSecret},       // disabled user
           {"backup@ctdump!gone", kSecret},  // no token: line
           {"backup@ctdump", kSecret},       // not a token id
       }) {
    Status s = AuthenticateToken(cfg, shadow, id, secret, kNow);
    EXPECT_EQ(s.code(), Code::kPermissionDenied) << id;
    EXPECT_EQ(s.message().find(kSecret), std::string::npos);
  }
}

}  // namespace
}  // namespace ctdump::access
