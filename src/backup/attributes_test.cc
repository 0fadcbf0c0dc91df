// protect/notes: the value, the backup looked up, max-protected-backups.
#include "backup/attributes.h"

#include <gtest/gtest.h>

namespace ctdump::backup {
namespace {

BackupEntry Entry(std::string volname, std::string vmid, bool is_protected) {
  BackupEntry e;
  e.volname = std::move(volname);
  e.vmid = std::move(vmid);
  e.is_protected = is_protected;
  return e;
}

TEST(ProtectValueTest, OnlyZeroOrOne) {
  EXPECT_EQ(*ParseProtectValue("1"), true);
  EXPECT_EQ(*ParseProtectValue("0"), false);
  for (const char* bad : {"", "2", "yes", "true", "01", " 1", "-1"}) {
    auto r = ParseProtectValue(bad);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(r.status().message(), std::string("protect: '") + bad + "' is not 0 or 1");
  }
}

TEST(FindBackupTest, ByVolnameOrNamesTheStorage) {
  std::vector<BackupEntry> list{Entry("a", "100", false), Entry("b", "101", true)};
  auto b = FindBackup(list, "b", "st");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, &list[1]);
  auto none = FindBackup(list, "c", "st");
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  EXPECT_EQ(none.status().message(), "backup 'c' does not exist on storage 'st'");
  EXPECT_FALSE(FindBackup({}, "a", "st").ok());
}

TEST(ProtectedLimitTest, CountsTheGuestsProtectedBackups) {
  std::vector<BackupEntry> list{Entry("a1", "100", true), Entry("a2", "100", false),
                                Entry("a3", "100", false), Entry("b1", "101", true),
                                Entry("b2", "101", true)};
  // Unlimited.
  EXPECT_TRUE(CheckProtectedLimit(list, list[1], -1, "st").ok());
  // Guest 100 has one protected: a second is allowed under 2, not under 1.
  EXPECT_TRUE(CheckProtectedLimit(list, list[1], 2, "st").ok());
  Status s = CheckProtectedLimit(list, list[1], 1, "st");
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "The number of protected backups per guest is limited to 1 on storage 'st'");
  // 0 forbids protecting any.
  EXPECT_FALSE(CheckProtectedLimit(list, Entry("x", "102", false), 0, "st").ok());
  // Another guest's protected backups do not count.
  EXPECT_TRUE(CheckProtectedLimit(list, Entry("x", "102", false), 1, "st").ok());
  // Re-protecting a protected one never fails (nothing changes).
  EXPECT_TRUE(CheckProtectedLimit(list, list[3], 1, "st").ok());
  EXPECT_TRUE(CheckProtectedLimit(list, list[0], 0, "st").ok());
}

}  // namespace
}  // namespace ctdump::backup
