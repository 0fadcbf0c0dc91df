#include "tasks/upid.h"

#include <gtest/gtest.h>

namespace ctdump::tasks {
namespace {

TEST(UpidTest, EncodesPveSample) {
  Upid u{"pve1", 0x2F1A3, 0x1A2B3C4, 0x65A1B2C3, "vzdump", "100", "root@pam"};
  EXPECT_EQ(EncodeUpid(u), "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:");
  auto d = DecodeUpid(EncodeUpid(u));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(*d, u);
}

TEST(UpidTest, RoundTrips) {
  const Upid cases[] = {
      {"a", 1, 0, 0, "vzdump", "", "root@pam"},  // empty id
      {"host-1", 0xFFFFFFFF, 0x123456789, 0xFFFFFFFF, "imgdel", "c1@store", "u@pam!tok"},
      {"n0", 42, 0x100000000, 1, "vzrestore", "web-01", "backup@pve!ci"},  // 9-digit pstart
      {"Z9", 7, 0xFFFFFFFF, 2, "t", "ä", "x"},
  };
  for (const auto& u : cases) {
    SCOPED_TRACE(EncodeUpid(u));
    EXPECT_TRUE(CheckUpid(u).ok());
    auto d = DecodeUpid(EncodeUpid(u));
    ASSERT_TRUE(d.ok()) << d.status().message();
    EXPECT_EQ(*d, u);
  }
}

TEST(UpidTest, NinePstartDigits) {
  Upid u{"n", 1, 0x123456789, 2, "t", "", "u"};
  EXPECT_EQ(EncodeUpid(u), "UPID:n:00000001:123456789:00000002:t::u:");
}

TEST(UpidTest, AcceptsLowercaseHex) {
  auto d = DecodeUpid("UPID:pve1:0002f1a3:01a2b3c4:65a1b2c3:vzdump:100:root@pam:");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->pid, 0x2F1A3u);
  EXPECT_EQ(d->pstart, 0x1A2B3C4u);
  EXPECT_EQ(d->starttime, 0x65A1B2C3u);
  EXPECT_EQ(EncodeUpid(*d), "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:");
}

TEST(UpidTest, RejectsMalformed) {
  const char* cases[] = {
      "",
      "UPID:",
      "upid:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam",     // no final colon
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:\n",  // Perl's $ would
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:x",
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam::",
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:",              // no user
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3::100:root@pam:",           // no type
      "UPID::0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",         // no node
      "UPID:-pve:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",     // node starts with -
      "UPID:pve-:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",     // node ends with -
      "UPID:pve.lan:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",  // dot in node
      "UPID:pve1:002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",      // 7-digit pid
      "UPID:pve1:00002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",    // 9-digit pid
      "UPID:pve1:0002F1A3:1A2B3C4:65A1B2C3:vzdump:100:root@pam:",      // 7-digit pstart
      "UPID:pve1:0002F1A3:0001A2B3C4:65A1B2C3:vzdump:100:root@pam:",   // 10-digit pstart
      "UPID:pve1:0002F1A3:01A2B3C4:065A1B2C3:vzdump:100:root@pam:",    // 9-digit starttime
      "UPID:pve1:0002F1AG:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",     // not hex
      "UPID:pve1:+002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vz dump:100:root@pam:",   // space
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:1/0:root@pam:",    // slash
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:1\t0:root@pam:",   // tab
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root\n@pam:",  // newline
      "UPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:extra:",
      "XUPID:pve1:0002F1A3:01A2B3C4:65A1B2C3:vzdump:100:root@pam:",
  };
  for (const char* c : cases) {
    SCOPED_TRACE(c);
    auto d = DecodeUpid(c);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), Code::kInvalidArgument);
    EXPECT_NE(d.status().message().find("unable to parse worker upid"), std::string::npos);
  }
  EXPECT_FALSE(DecodeUpid(std::string_view("UPID:n:00000001:00000001:00000001:t:\0:u:", 40)).ok());
  std::string longest = "UPID:n:00000001:00000001:00000001:t:" + std::string(300, 'x') + ":u:";
  EXPECT_FALSE(DecodeUpid(longest).ok());
}

TEST(UpidTest, ChecksFields) {
  EXPECT_TRUE(CheckNode("pve1").ok());
  EXPECT_TRUE(CheckNode("a").ok());
  EXPECT_FALSE(CheckNode("").ok());
  EXPECT_FALSE(CheckNode("a_b").ok());
  EXPECT_TRUE(CheckTaskId("").ok());
  EXPECT_FALSE(CheckTaskType("").ok());
  EXPECT_FALSE(CheckTaskUser("").ok());
  Status s = CheckTaskUser("a:b");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("task user 'a:b'"), std::string::npos) << s.message();
  Upid big{"n", 1, kMaxPstart + 1, 1, "t", "", "u"};
  EXPECT_FALSE(CheckUpid(big).ok());
  Upid long_id{"n", 1, 1, 1, "t", std::string(250, 'i'), "u"};
  EXPECT_FALSE(CheckUpid(long_id).ok());
}

TEST(UpidTest, TaskIdForContainerNames) {
  EXPECT_EQ(TaskIdFor("web"), "web");
  EXPECT_EQ(TaskIdFor("100"), "100");
  EXPECT_EQ(TaskIdFor("c1@store"), "c1@store");
  EXPECT_EQ(TaskIdFor(""), "");
  EXPECT_EQ(TaskIdFor("a:b"), "");
  EXPECT_EQ(TaskIdFor("a b"), "");
  EXPECT_EQ(TaskIdFor("a/b"), "");
  EXPECT_EQ(TaskIdFor("a\nb"), "");
}

}  // namespace
}  // namespace ctdump::tasks
