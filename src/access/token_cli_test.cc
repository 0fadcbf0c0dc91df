// `ctdump token add|list|remove` through the real binary (CTDUMP_BIN) on a
// temporary --config-dir: PVE's JSON answers, the files written, the errors
// and exit codes. No root needed.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "access/token_shadow.h"
#include "access/user_cfg.h"
#include "sys/file.h"

namespace ctdump::access {
namespace {

using nlohmann::json;

struct CliRun {
  int exit = -1;
  std::string out;  // stdout
};

class TokenCliTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = *sys::MakeTempDir("/tmp/ctdump-token-cli-test."); }
  void TearDown() override { sys::RemoveTree(dir_).IgnoreError(); }

  // `args` are trusted test words; stderr is dropped.
  CliRun Ctdump(const std::string& args) {
    std::string cmd =
        std::string(CTDUMP_BIN) + " --config-dir '" + dir_ + "' " + args + " 2>/dev/null";
    CliRun r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    int status = ::pclose(p);
    r.exit = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }
  // The last line of a JSON run: the result or error event.
  json Last(const CliRun& r) {
    std::string s = r.out;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return json::parse(s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1));
  }

  std::string dir_;
};

TEST_F(TokenCliTest, AddListRemoveJson) {
  ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/user.cfg", "user:backup@ctdump:1:0:\n").ok());
  CliRun add = Ctdump("--output-format json token add backup@ctdump ci --comment 'nightly ci'");
  ASSERT_EQ(add.exit, 0) << add.out;
  json ev = Last(add);
  EXPECT_EQ(ev["event"], "result");
  EXPECT_EQ(ev["command"], "token add");
  json data = ev["data"];
  EXPECT_EQ(data["full-tokenid"], "backup@ctdump!ci");
  EXPECT_EQ(data["info"], json({{"privsep", 1}, {"comment", "nightly ci"}}));
  std::string secret = data["value"];
  EXPECT_TRUE(std::regex_match(
      secret, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  TokenShadow shadow = *TokenShadow::Load(dir_ + "/priv/token.shadow");
  EXPECT_TRUE(shadow.Verify("backup@ctdump!ci", secret));

  CliRun add2 =
      Ctdump("--output-format json token add backup@ctdump ro --privsep 0 --expire 1900000000");
  ASSERT_EQ(add2.exit, 0) << add2.out;
  EXPECT_EQ(Last(add2)["data"]["info"], json({{"privsep", 0}, {"expire", 1900000000}}));

  CliRun list = Ctdump("--output-format json token list backup@ctdump");
  ASSERT_EQ(list.exit, 0);
  EXPECT_EQ(Last(list)["data"],
            json::parse(R"([{"tokenid":"ci","privsep":1,"expire":0,"comment":"nightly ci"},
                            {"tokenid":"ro","privsep":0,"expire":1900000000,"comment":""}])"));

  CliRun dup = Ctdump("--output-format json token add backup@ctdump ci");
  EXPECT_EQ(dup.exit, 1);
  EXPECT_EQ(Last(dup)["message"], "Token already exists.");

  CliRun rm = Ctdump("--output-format json token remove backup@ctdump ci");
  ASSERT_EQ(rm.exit, 0);
  EXPECT_EQ(Last(rm)["data"]["full-tokenid"], "backup@ctdump!ci");
  UserConfig cfg = *UserConfig::Load(dir_ + "/user.cfg");
  EXPECT_EQ(cfg.FindToken("backup@ctdump!ci"), nullptr);
  EXPECT_NE(cfg.FindToken("backup@ctdump!ro"), nullptr);
  EXPECT_FALSE(TokenShadow::Load(dir_ + "/priv/token.shadow")->Has("backup@ctdump!ci"));
  EXPECT_EQ(Ctdump("token remove backup@ctdump ci").exit, 1);
}

TEST_F(TokenCliTest, TextOutputShowsTheSecretOnce) {
  CliRun add = Ctdump("token add root@pam ci");
  ASSERT_EQ(add.exit, 0);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(add.out, m, std::regex("value: +([0-9a-f-]{36})\n"))) << add.out;
  EXPECT_TRUE(TokenShadow::Load(dir_ + "/priv/token.shadow")->Verify("root@pam!ci", m[1].str()));
  CliRun list = Ctdump("token list root@pam");
  EXPECT_EQ(list.exit, 0);
  EXPECT_NE(list.out.find("ci "), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find(m[1].str()), std::string::npos);
}

TEST_F(TokenCliTest, Errors) {
  CliRun no_user = Ctdump("--output-format json token add alice@pam ci");
  EXPECT_EQ(no_user.exit, 1);
  std::string msg = Last(no_user)["message"];
  EXPECT_NE(msg.find("user:alice@pam:1:0::::::"), std::string::npos) << msg;
  EXPECT_EQ(Ctdump("token add alice ci").exit, 2);
  EXPECT_EQ(Ctdump("token add root@pam c").exit, 2);
  EXPECT_EQ(Ctdump("token add root@pam ci --privsep 2").exit, 2);
  EXPECT_EQ(Ctdump("token add root@pam ci --expire -5").exit, 2);
  EXPECT_FALSE(sys::PathExists(dir_ + "/user.cfg"));
}

}  // namespace
}  // namespace ctdump::access
