#include "api/format.h"

#include <gtest/gtest.h>

#include <string>

namespace ctdump::api {
namespace {

struct Case {
  const char* format;
  const char* value;
  const char* error;  // nullptr: passes
};

TEST(FormatTest, Table) {
  const Case cases[] = {
      {"pve-storage-id", "local", nullptr},
      {"pve-storage-id", "Store.2-b_c", nullptr},
      {"pve-storage-id", "a", "storage ID 'a' contains illegal characters\n"},
      {"pve-storage-id", "1abc", "storage ID '1abc' contains illegal characters\n"},
      {"pve-storage-id", "a b", "storage ID 'a b' contains illegal characters\n"},
      {"pve-storage-id", "ab-", "storage ID 'ab-' contains illegal characters\n"},
      {"pve-node", "pve1", nullptr},
      {"pve-node", "a", nullptr},
      {"pve-node", "-a", "value does not look like a valid node name\n"},
      {"pve-node", "a.b", "value does not look like a valid node name\n"},
      {"pve-configid", "backup-1a2b", nullptr},  // PVE: [a-z][a-z0-9_-]+ (job ids)
      {"pve-configid", "a.b", "invalid configuration ID 'a.b'\n"},
      {"pve-configid", "backup_1a2b", nullptr},
      {"pve-configid", "b", "invalid configuration ID 'b'\n"},
      {"pve-vmid", "100", nullptr},
      {"pve-vmid", "99", "value does not look like a valid VM ID\n"},
      {"pve-vmid", "0100", "value does not look like a valid VM ID\n"},
      {"pve-vmid-list", "100,101 102;103", nullptr},
      {"pve-vmid-list", "", nullptr},
      {"pve-vmid-list", "100,x", "value does not look like a valid VM ID\n"},
      {"ctdump-guest", "web-1.example_2", nullptr},
      {"ctdump-guest", ".hidden", "invalid container name '.hidden'\n"},
      {"ctdump-guest", "a/b", "invalid container name 'a/b'\n"},
      {"ctdump-guest", "..", "invalid container name '..'\n"},
      {"ctdump-guest", "", "invalid container name ''\n"},
      {"ctdump-guest-list", "web,db", nullptr},
      {"ctdump-guest-opt", "", nullptr},
      {"ctdump-guest-opt", "-x", "invalid container name '-x'\n"},
      {"email", "root@example.com", nullptr},
      {"email", "a.b+c@mail.example.org", nullptr},
      {"email", "root", "value does not look like a valid email address\n"},
      {"email", "a@b", "value does not look like a valid email address\n"},
      {"email-or-username-list", "root, a@example.com", nullptr},
      {"email-or-username", "", "value does not look like a valid email address or user name\n"},
      {"no-such", "x", "undefined format 'no-such'\n"},
  };
  for (const Case& c : cases) {
    std::optional<std::string> err = CheckFormat(c.format, c.value);
    if (c.error) {
      EXPECT_EQ(err.value_or("<passed>"), c.error) << c.format << " " << c.value;
    } else {
      EXPECT_FALSE(err) << c.format << " " << c.value << ": " << *err;
    }
  }
}

TEST(FormatTest, KnownFormats) {
  EXPECT_TRUE(IsKnownFormat("pve-storage-id"));
  EXPECT_TRUE(IsKnownFormat("pve-vmid-list"));
  EXPECT_TRUE(IsKnownFormat("ctdump-guest-opt"));
  EXPECT_FALSE(IsKnownFormat("pve-storage-id-x"));
  EXPECT_FALSE(IsKnownFormat("-list"));
  EXPECT_FALSE(FormatNames().empty());
}

TEST(FormatTest, SplitList) {
  std::vector<std::string_view> items = SplitList(" a,,b ;c\td");
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0], "a");
  EXPECT_EQ(items[3], "d");
  EXPECT_TRUE(SplitList(" ,; ").empty());
}

}  // namespace
}  // namespace ctdump::api
