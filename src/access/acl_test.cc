#include "access/acl.h"

#include <gtest/gtest.h>

namespace ctdump::access {
namespace {

constexpr int64_t kNow = 1800000000;

PrivSet Of(std::initializer_list<Priv> privs) {
  PrivSet s;
  for (Priv p : privs) s.Add(p);
  return s;
}

const PrivSet kAuditor = *BuiltinRole("PVEAuditor");
const PrivSet kVmUser = *BuiltinRole("PVEVMUser");
const PrivSet kDsUser = *BuiltinRole("PVEDatastoreUser");
const PrivSet kOperator = *BuiltinRole("CtdumpBackupOperator");

struct Case {
  const char* name;
  const char* cfg;
  const char* authid;
  const char* path;
  PrivSet want;
};

constexpr char kUsers[] =
    "user:alice@pam:1:0:\n"
    "user:bob@pam:1:0:\n"
    "user:off@pam:0:0:\n"
    "user:old@pam:1:1700000000:\n"
    "user:backup@ctdump:1:0:\n"
    "token:backup@ctdump!sep:0:1::\n"
    "token:backup@ctdump!full:0:0::\n"
    "token:backup@ctdump!gone:1700000000:0::\n"
    "token:root@pam!ci:0:1::\n"
    "group:ops:alice@pam,bob@pam::\n"
    "group:audit:alice@pam::\n";

TEST(AclTest, Evaluation) {
  const Case cases[] = {
      {"nothing", "", "alice@pam", "/", PrivSet()},
      {"root is administrator", "", "root@pam", "/vms/x", PrivSet::All()},
      {"root without any line", "", "root@pam", "/", PrivSet::All()},
      {"user on /", "acl:1:/:alice@pam:PVEAuditor:\n", "alice@pam", "/storage/s", kAuditor},
      {"propagate 0 only at its path", "acl:0:/vms:alice@pam:PVEVMUser:\n", "alice@pam", "/vms",
       kVmUser},
      {"propagate 0 not below", "acl:0:/vms:alice@pam:PVEVMUser:\n", "alice@pam", "/vms/web",
       PrivSet()},
      {"deeper level replaces", "acl:1:/:alice@pam:PVEAuditor:\nacl:1:/vms:alice@pam:PVEVMUser:\n",
       "alice@pam", "/vms/web", kVmUser},
      {"other branch keeps /", "acl:1:/:alice@pam:PVEAuditor:\nacl:1:/vms:alice@pam:PVEVMUser:\n",
       "alice@pam", "/storage/s", kAuditor},
      {"roles of a level are unioned", "acl:1:/:alice@pam:PVEVMUser,PVEDatastoreUser:\n",
       "alice@pam", "/x", kVmUser | kDsUser},
      {"group", "acl:1:/:@ops:PVEAuditor:\n", "bob@pam", "/", kAuditor},
      {"groups of a level are unioned",
       "acl:1:/:@ops:PVEVMUser:\nacl:1:/:@audit:PVEDatastoreUser:\n", "alice@pam", "/",
       kVmUser | kDsUser},
      {"user entry replaces group entry at a level",
       "acl:1:/:@ops:CtdumpBackupOperator:\nacl:1:/:alice@pam:PVEAuditor:\n", "alice@pam", "/",
       kAuditor},
      {"group entry deeper replaces user entry above",
       "acl:1:/:alice@pam:PVEAuditor:\nacl:1:/vms:@ops:PVEVMUser:\n", "alice@pam", "/vms/a",
       kVmUser},
      {"NoAccess clears inherited",
       "acl:1:/:alice@pam:Administrator:\nacl:1:/vms:alice@pam:NoAccess:\n", "alice@pam",
       "/vms/web", PrivSet()},
      {"NoAccess beside another role", "acl:1:/:alice@pam:NoAccess,Administrator:\n", "alice@pam",
       "/", PrivSet()},
      {"NoAccess for a group, user entry wins",
       "acl:1:/:@ops:NoAccess:\nacl:1:/:alice@pam:PVEAuditor:\n", "alice@pam", "/", kAuditor},
      {"custom role", "role:Op:VM.Backup,VM.Config.CDROM:\nacl:1:/vms:alice@pam:Op:\n", "alice@pam",
       "/vms/a", Of({Priv::kVmBackup})},
      {"disabled user", "acl:1:/:off@pam:Administrator:\n", "off@pam", "/", PrivSet()},
      {"expired user", "acl:1:/:old@pam:Administrator:\n", "old@pam", "/", PrivSet()},
      {"unknown user", "", "nobody@pam", "/", PrivSet()},
      {"privsep token: intersection",
       "acl:1:/:backup@ctdump:CtdumpBackupOperator:\n"
       "acl:1:/:backup@ctdump!sep:PVEVMUser,PVEDatastoreAdmin:\n",
       "backup@ctdump!sep", "/", kOperator & (kVmUser | *BuiltinRole("PVEDatastoreAdmin"))},
      {"privsep token without own ACL", "acl:1:/:backup@ctdump:Administrator:\n",
       "backup@ctdump!sep", "/", PrivSet()},
      {"privsep 0 token: user's", "acl:1:/:backup@ctdump:CtdumpBackupOperator:\n",
       "backup@ctdump!full", "/vms/a", kOperator},
      {"expired token", "acl:1:/:backup@ctdump:Administrator:\n", "backup@ctdump!gone", "/",
       PrivSet()},
      {"unknown token", "acl:1:/:backup@ctdump:Administrator:\n", "backup@ctdump!nope", "/",
       PrivSet()},
      {"root's privsep token: its own ACL", "acl:1:/storage:root@pam!ci:PVEDatastoreUser:\n",
       "root@pam!ci", "/storage/s", kDsUser},
      {"invalid path", "acl:1:/:alice@pam:Administrator:\n", "alice@pam", "/a b", PrivSet()},
      {"path normalized", "acl:0:/vms/web:alice@pam:PVEVMUser:\n", "alice@pam", "//vms/web/",
       kVmUser},
  };
  for (const Case& c : cases) {
    UserConfig cfg = UserConfig::Parse(std::string(kUsers) + c.cfg, "user.cfg");
    EXPECT_TRUE(cfg.problems().empty()) << c.name << ": " << cfg.problems()[0];
    PrivSet got = Permissions(cfg, c.authid, c.path, kNow);
    EXPECT_EQ(got, c.want) << c.name << ": got " << ::testing::PrintToString(PrivNames(got));
  }
}

TEST(AclTest, CheckEnabled) {
  UserConfig cfg = UserConfig::Parse(kUsers, "user.cfg");
  EXPECT_TRUE(CheckEnabled(cfg, "alice@pam", kNow).ok());
  EXPECT_TRUE(CheckEnabled(cfg, "root@pam", kNow).ok());
  EXPECT_TRUE(CheckEnabled(cfg, "backup@ctdump!sep", kNow).ok());
  EXPECT_TRUE(CheckEnabled(cfg, "old@pam", 1600000000).ok());  // before its expiry
  for (const char* id :
       {"off@pam", "old@pam", "nobody@pam", "backup@ctdump!gone", "backup@ctdump!nope"}) {
    Status s = CheckEnabled(cfg, id, kNow);
    EXPECT_EQ(s.code(), Code::kPermissionDenied) << id;
  }
  // A disabled user's tokens fail too; root@pam with a disabled line too.
  UserConfig off = UserConfig::Parse("user:root@pam:0:0:\ntoken:root@pam!ci:0:0::\n", "f");
  EXPECT_FALSE(CheckEnabled(off, "root@pam", kNow).ok());
  EXPECT_FALSE(CheckEnabled(off, "root@pam!ci", kNow).ok());
  EXPECT_TRUE(Permissions(off, "root@pam!ci", "/", kNow).empty());
}

TEST(AclTest, AclRolesKeepsPropagate) {
  UserConfig cfg = UserConfig::Parse(
      std::string(kUsers) + "acl:0:/vms:alice@pam:PVEVMUser:\nacl:1:/vms:@ops:PVEAuditor:\n", "f");
  auto roles = AclRoles(cfg, "alice@pam", "/vms");
  ASSERT_EQ(roles.size(), 1u);
  EXPECT_FALSE(roles.at("PVEVMUser"));
  // Below /vms alice's own entry does not apply: her group's does.
  roles = AclRoles(cfg, "alice@pam", "/vms/a");
  ASSERT_EQ(roles.size(), 1u);
  EXPECT_TRUE(roles.at("PVEAuditor"));
}

TEST(RolesTest, BuiltinsAndNames) {
  EXPECT_EQ(PrivNames(kOperator),
            (std::vector<std::string>{"Sys.Audit", "VM.Audit", "VM.Backup", "VM.Allocate",
                                      "Datastore.Audit", "Datastore.AllocateSpace"}));
  EXPECT_EQ(*BuiltinRole("Administrator"), PrivSet::All());
  EXPECT_TRUE(BuiltinRole("NoAccess")->empty());
  EXPECT_FALSE(BuiltinRole("PVEAdmin"));
  EXPECT_EQ(BuiltinRoleNames().size(), 7u);
  for (int i = 0; i < kPrivCount; ++i) {
    auto p = static_cast<Priv>(i);
    EXPECT_EQ(PrivFromName(PrivName(p)), p);
  }
  EXPECT_FALSE(PrivFromName("VM.Config.CDROM"));
  EXPECT_TRUE(IsPrivilegeName("VM.Config.CDROM"));
  EXPECT_FALSE(IsPrivilegeName("VM Audit"));
}

}  // namespace
}  // namespace ctdump::access
