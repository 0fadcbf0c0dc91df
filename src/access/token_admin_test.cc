#include "access/token_admin.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "access/acl.h"
#include "access/token_shadow.h"
#include "sys/file.h"

namespace ctdump::access {
namespace {

class TokenAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = *sys::MakeTempDir("/tmp/ctdump-access-test.");
    warn_ = [this](const std::string& m) { warnings_.push_back(m); };
  }
  void TearDown() override { sys::RemoveTree(dir_).IgnoreError(); }
  std::string Read(const std::string& name) { return *sys::ReadFile(dir_ + "/" + name); }
  mode_t Mode(const std::string& name) {
    struct stat st;
    EXPECT_EQ(::stat((dir_ + "/" + name).c_str(), &st), 0) << name;
    return st.st_mode & 07777;
  }

  std::string dir_;
  std::vector<std::string> warnings_;
  WarnFn warn_;
};

TEST_F(TokenAdminTest, AddListRemove) {
  ASSERT_TRUE(
      sys::WriteFileAtomic(dir_ + "/user.cfg", "user:backup@ctdump:1:0:\npool:p:\nbroken\n", 0640)
          .ok());
  Result<NewToken> t = AddToken(dir_, "backup@ctdump", "ci", {true, 0, "nightly ci"}, warn_);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->token.tokenid, "backup@ctdump!ci");
  EXPECT_EQ(t->secret.size(), 36u);
  EXPECT_EQ(Read("user.cfg"),
            "user:backup@ctdump:1:0:\ntoken:backup@ctdump!ci:0:1:nightly%20ci:\npool:p:\nbroken\n");
  EXPECT_EQ(warnings_.size(), 1u);  // the broken line, named
  EXPECT_NE(warnings_[0].find("user.cfg:3:"), std::string::npos) << warnings_[0];
  EXPECT_EQ(Mode("user.cfg"), 0640u);
  EXPECT_EQ(Mode("priv"), 0700u);
  EXPECT_EQ(Mode("priv/token.shadow"), 0600u);
  std::string shadow_text = Read("priv/token.shadow");
  EXPECT_EQ(shadow_text.find(t->secret), std::string::npos);
  TokenShadow shadow = TokenShadow::Parse(shadow_text, "s");
  EXPECT_TRUE(shadow.Verify("backup@ctdump!ci", t->secret));

  Result<NewToken> second = AddToken(dir_, "backup@ctdump", "ci2", {false, 1900000000, ""}, warn_);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->secret, t->secret);
  Result<NewToken> dup = AddToken(dir_, "backup@ctdump", "ci", {}, warn_);
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);

  Result<std::vector<Token>> list = ListTokens(dir_, "backup@ctdump", warn_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].name, "ci2");
  EXPECT_FALSE((*list)[1].privsep);
  EXPECT_EQ((*list)[1].expire, 1900000000);

  ASSERT_TRUE(RemoveToken(dir_, "backup@ctdump", "ci", warn_).ok());
  EXPECT_EQ(RemoveToken(dir_, "backup@ctdump", "ci", warn_).code(), Code::kNotFound);
  shadow = TokenShadow::Parse(Read("priv/token.shadow"), "s");
  EXPECT_FALSE(shadow.Has("backup@ctdump!ci"));
  EXPECT_TRUE(shadow.Verify("backup@ctdump!ci2", second->secret));
  EXPECT_EQ(ListTokens(dir_, "backup@ctdump", warn_)->size(), 1u);
}

TEST_F(TokenAdminTest, UserLineNeededButForRoot) {
  Result<NewToken> t = AddToken(dir_, "alice@pam", "ci", {}, warn_);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("user:alice@pam:1:0::::::"), std::string::npos);
  EXPECT_FALSE(sys::PathExists(dir_ + "/user.cfg"));

  Result<NewToken> root = AddToken(dir_, "root@pam", "ci", {}, warn_);
  ASSERT_TRUE(root.ok()) << root.status().message();
  UserConfig cfg = *UserConfig::Load(dir_ + "/user.cfg");
  EXPECT_TRUE(CheckEnabled(cfg, "root@pam!ci", 0).ok());
}

TEST_F(TokenAdminTest, InvalidArguments) {
  EXPECT_EQ(AddToken(dir_, "alice", "ci", {}, warn_).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AddToken(dir_, "root@pam", "c", {}, warn_).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AddToken(dir_, "root@pam", "ci", {true, -1, ""}, warn_).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ListTokens(dir_, "alice", warn_).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RemoveToken(dir_, "root@pam", "ci", warn_).code(), Code::kNotFound);
}

}  // namespace
}  // namespace ctdump::access
