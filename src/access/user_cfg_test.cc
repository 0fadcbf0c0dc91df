#include "access/user_cfg.h"

#include <gtest/gtest.h>

namespace ctdump::access {
namespace {

// The example of docs/design/pve-api-facts.md §3 (pve-access-control's
// format), with CtdumpOperator as a custom role.
constexpr char kPveSample[] =
    "user:root@pam:1:0:::root@example.com:::\n"
    "user:backup@pve:1:0:Backup:Bot::ctdump%20service:\n"
    "token:backup@pve!ctdump:0:1:automation:\n"
    "\n"
    "group:admins:root@pam:Admins:\n"
    "\n"
    "role:CtdumpOperator:Datastore.AllocateSpace,Datastore.Audit,VM.Audit,VM.Backup:\n"
    "\n"
    "acl:1:/:@admins:Administrator:\n"
    "acl:1:/storage/backup:backup@pve!ctdump:PVEDatastoreUser:\n"
    "acl:1:/vms:backup@pve!ctdump:PVEVMUser:\n";

TEST(UserCfgTest, PveSample) {
  UserConfig cfg = UserConfig::Parse(kPveSample, "user.cfg");
  EXPECT_TRUE(cfg.problems().empty()) << cfg.problems()[0];
  ASSERT_EQ(cfg.users().size(), 2u);
  const User* root = cfg.FindUser("root@pam");
  ASSERT_NE(root, nullptr);
  EXPECT_TRUE(root->enable);
  EXPECT_EQ(root->email, "root@example.com");
  const User* backup = cfg.FindUser("backup@pve");
  ASSERT_NE(backup, nullptr);
  EXPECT_EQ(backup->firstname, "Backup");
  EXPECT_EQ(backup->lastname, "Bot");
  EXPECT_EQ(backup->email, "");
  EXPECT_EQ(backup->comment, "ctdump service");
  EXPECT_EQ(backup->line, 2);
  const Token* t = cfg.FindToken("backup@pve!ctdump");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->userid, "backup@pve");
  EXPECT_EQ(t->name, "ctdump");
  EXPECT_EQ(t->expire, 0);
  EXPECT_TRUE(t->privsep);
  EXPECT_EQ(t->comment, "automation");
  EXPECT_TRUE(cfg.InGroup("admins", "root@pam"));
  EXPECT_FALSE(cfg.InGroup("admins", "backup@pve"));
  ASSERT_EQ(cfg.roles().size(), 1u);
  std::optional<PrivSet> op = cfg.RolePrivs("CtdumpOperator");
  ASSERT_TRUE(op);
  EXPECT_EQ(PrivNames(*op), (std::vector<std::string>{"VM.Audit", "VM.Backup", "Datastore.Audit",
                                                      "Datastore.AllocateSpace"}));
  ASSERT_EQ(cfg.acl().size(), 3u);
  EXPECT_EQ(cfg.acl()[1].path, "/storage/backup");
  EXPECT_EQ(cfg.acl()[1].subjects, std::vector<std::string>{"backup@pve!ctdump"});
  EXPECT_EQ(cfg.acl()[1].roles, std::vector<std::string>{"PVEDatastoreUser"});
  EXPECT_EQ(cfg.Serialize(), kPveSample);
}

TEST(UserCfgTest, FieldsAreTrimmedAndOptional) {
  UserConfig cfg = UserConfig::Parse(
      "  user: alice@pam : 1 : 1900000000 :\n"
      "user:bob@pam:0\n"
      "user:carol@pam\n"
      "token:alice@pam!t1\n"
      "acl:0: /vms/web// :alice@pam:PVEVMUser\n",
      "f");
  EXPECT_TRUE(cfg.problems().empty()) << cfg.problems()[0];
  EXPECT_EQ(cfg.FindUser("alice@pam")->expire, 1900000000);
  EXPECT_FALSE(cfg.FindUser("bob@pam")->enable);
  EXPECT_FALSE(cfg.FindUser("carol@pam")->enable);       // PVE: an empty enable field is false
  EXPECT_FALSE(cfg.FindToken("alice@pam!t1")->privsep);  // as PVE: empty is 0
  ASSERT_EQ(cfg.acl().size(), 1u);
  EXPECT_FALSE(cfg.acl()[0].propagate);
  EXPECT_EQ(cfg.acl()[0].path, "/vms/web");
}

TEST(UserCfgTest, BadLinesAreReportedWithFileAndLineAndLeftOut) {
  struct Case {
    const char* line;
    const char* problem;  // a part of the message
  };
  const Case cases[] = {
      {"user:alice:1:0:", "invalid user id 'alice'"},
      {"user:bob@pam:1:soon:", "invalid expire date"},
      {"token:nobody@pam!tt:0:1::", "user 'nobody@pam' does not exist"},
      {"token:alice@pam!x:0:1::", "invalid token name 'x'"},
      {"group:bad group:alice@pam::", "invalid group id"},
      {"role:Administrator:Sys.Audit:", "built in"},
      {"role:Bad:Sys.Audit,1nvalid:", "invalid privilege '1nvalid'"},
      {"acl:2:/:alice@pam:Administrator:", "invalid propagate flag"},
      {"acl:1:/v ms:alice@pam:Administrator:", "invalid ACL path"},
      {"acl:1:/:ghost@pam:Administrator:", "user 'ghost@pam' does not exist"},
      {"acl:1:/:@ghosts:Administrator:", "group 'ghosts' does not exist"},
      {"acl:1:/:alice@pam!none:Administrator:", "token 'alice@pam!none' does not exist"},
      {"acl:1:/:alice@pam:NoSuchRole:", "role 'NoSuchRole' does not exist"},
      {"domain:pam:", "unknown entry type 'domain'"},
      {"user:alice@pam:1:0:::::\n", "user 'alice@pam' is defined again"},
  };
  for (const Case& c : cases) {
    std::string text = std::string("user:alice@pam:1:0:\n") + c.line + "\n";
    UserConfig cfg = UserConfig::Parse(text, "/etc/ctdump/user.cfg");
    ASSERT_FALSE(cfg.problems().empty()) << c.line;
    EXPECT_NE(cfg.problems()[0].find("/etc/ctdump/user.cfg:2: "), std::string::npos)
        << cfg.problems()[0];
    EXPECT_NE(cfg.problems()[0].find(c.problem), std::string::npos) << cfg.problems()[0];
    EXPECT_NE(cfg.FindUser("alice@pam"), nullptr) << c.line;  // the rest stays
    EXPECT_EQ(cfg.Serialize(), text);                         // kept in the file
  }
}

TEST(UserCfgTest, PartOfAnAclLineIsLeftOut) {
  UserConfig cfg = UserConfig::Parse(
      "user:alice@pam:1:0:\n"
      "acl:1:/:alice@pam,ghost@pam:PVEAuditor,Nope:\n",
      "f");
  ASSERT_EQ(cfg.problems().size(), 2u);
  ASSERT_EQ(cfg.acl().size(), 1u);
  EXPECT_EQ(cfg.acl()[0].subjects, std::vector<std::string>{"alice@pam"});
  EXPECT_EQ(cfg.acl()[0].roles, std::vector<std::string>{"PVEAuditor"});
}

TEST(UserCfgTest, PoolsCommentsAndOtherPrivilegesAreAccepted) {
  const char* text =
      "# managed by hand\n"
      "pool:mypool:comment:100,101:local:\n"
      "role:PveOnly:VM.Config.CDROM,Sys.Audit:\n";
  UserConfig cfg = UserConfig::Parse(text, "f");
  EXPECT_TRUE(cfg.problems().empty());
  EXPECT_EQ(cfg.roles().at("PveOnly").names.size(), 2u);
  EXPECT_EQ(PrivNames(*cfg.RolePrivs("PveOnly")), std::vector<std::string>{"Sys.Audit"});
  EXPECT_EQ(cfg.Serialize(), text);
}

TEST(UserCfgTest, TextEncoding) {
  EXPECT_EQ(EncodeText("ctdump service"), "ctdump%20service");
  EXPECT_EQ(EncodeText("a:b%c\n\xc3\xa9"), "a%3Ab%25c%0A%C3%A9");
  EXPECT_EQ(DecodeText("a%3Ab%25c%0A%C3%A9"), "a:b%c\n\xc3\xa9");
  EXPECT_EQ(DecodeText("50%"), "50%");
  EXPECT_EQ(DecodeText("%zz"), "%zz");
}

TEST(UserCfgTest, NormalizeAclPath) {
  EXPECT_EQ(*NormalizeAclPath(""), "/");
  EXPECT_EQ(*NormalizeAclPath("/"), "/");
  EXPECT_EQ(*NormalizeAclPath("vms"), "/vms");
  EXPECT_EQ(*NormalizeAclPath("//vms//web/"), "/vms/web");
  EXPECT_FALSE(NormalizeAclPath("/vms/a b").ok());
  EXPECT_FALSE(NormalizeAclPath("/vms/a:b").ok());
}

TEST(UserCfgTest, AddTokenAfterItsUserKeepingEverythingElse) {
  const char* text =
      "user:alice@pam:1:0:\n"
      "token:alice@pam!one:0:1::\n"
      "user:bob@pam:1:0:\n"
      "junk line\n"
      "pool:p1:\n"
      "acl:1:/:alice@pam:PVEAuditor:\n";
  UserConfig cfg = UserConfig::Parse(text, "f");
  Token t{"alice@pam!two", "alice@pam", "two", 1900000000, false, "ci: nightly", 0};
  ASSERT_TRUE(cfg.AddToken(t).ok());
  EXPECT_EQ(cfg.Serialize(),
            "user:alice@pam:1:0:\n"
            "token:alice@pam!one:0:1::\n"
            "token:alice@pam!two:1900000000:0:ci%3A%20nightly:\n"
            "user:bob@pam:1:0:\n"
            "junk line\n"
            "pool:p1:\n"
            "acl:1:/:alice@pam:PVEAuditor:\n");
  const Token* back = cfg.FindToken("alice@pam!two");
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->comment, "ci: nightly");
  EXPECT_FALSE(back->privsep);
  EXPECT_EQ(back->expire, 1900000000);

  Status again = cfg.AddToken(t);
  EXPECT_EQ(again.code(), Code::kAlreadyExists);
  EXPECT_EQ(again.message(), "Token already exists.");

  EXPECT_TRUE(cfg.RemoveToken("alice@pam!two"));
  EXPECT_FALSE(cfg.RemoveToken("alice@pam!two"));
  EXPECT_EQ(cfg.Serialize(), text);
}

TEST(UserCfgTest, AddTokenNeedsAUserLineButForRoot) {
  UserConfig cfg = UserConfig::Parse("", "/etc/ctdump/user.cfg");
  Status s = cfg.AddToken({"bob@ctdump!ci", "bob@ctdump", "ci", 0, true, "", 0});
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("user:bob@ctdump:1:0::::::"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("/etc/ctdump/user.cfg"), std::string::npos);
  ASSERT_TRUE(cfg.AddToken({"root@pam!ci", "root@pam", "ci", 0, true, "", 0}).ok());
  EXPECT_EQ(cfg.Serialize(), "token:root@pam!ci:0:1::\n");
  EXPECT_TRUE(cfg.problems().empty());
}

TEST(UserCfgTest, RemoveTokenRemovesRepeatedLines) {
  UserConfig cfg =
      UserConfig::Parse("user:a@pam:1:0:\ntoken:a@pam!tt:0:1::\ntoken:a@pam!tt:0:0::\n", "f");
  EXPECT_EQ(cfg.problems().size(), 1u);
  EXPECT_TRUE(cfg.RemoveToken("a@pam!tt"));
  EXPECT_EQ(cfg.Serialize(), "user:a@pam:1:0:\n");
}

TEST(UserCfgTest, NoTrailingNewlineAndCrLf) {
  UserConfig cfg = UserConfig::Parse("user:a@pam:1:0:\r\nuser:b@pam:1:0:", "f");
  EXPECT_TRUE(cfg.problems().empty());
  EXPECT_NE(cfg.FindUser("a@pam"), nullptr);
  EXPECT_NE(cfg.FindUser("b@pam"), nullptr);
}

}  // namespace
}  // namespace ctdump::access
