#include "access/ticket.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>

#include "base/base64.h"
#include "sys/file.h"

namespace ctdump::access {
namespace {

constexpr int64_t kT = 1800000000;  // 0x6B49D200

AuthKey KeyOf(char fill, int64_t created = kT) { return {created, std::string(32, fill)}; }

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = *sys::MakeTempDir("/tmp/ctdump-access-test."); }
  void TearDown() override { sys::RemoveTree(dir_).IgnoreError(); }
  std::string dir_;
};

TEST(TicketTest, ShapeMatchesPveRegexes) {
  TicketKeys keys(KeyOf('a'), std::nullopt);
  std::string t = keys.Issue("alice@pam", kT);
  EXPECT_TRUE(t.starts_with("PVE:alice@pam:6B49D200::")) << t;
  std::smatch m;
  ASSERT_TRUE(std::regex_match(t, m, std::regex(R"(^(PVE:\S+)::([^:\s]+)$)")));
  std::string plain = m[1];
  EXPECT_TRUE(std::regex_match(plain, std::regex(R"(^PVE:(?:(\S+):)?([A-Z0-9]{8})$)")));
  std::string sig = m[2];
  EXPECT_EQ(sig.size(), 44u);  // base64 of 32 bytes with padding
  EXPECT_EQ(sig.back(), '=');
  EXPECT_EQ(Base64Decode(sig)->size(), 32u);
}

TEST(TicketTest, Verify) {
  TicketKeys keys(KeyOf('a'), KeyOf('b', kT - 86400));
  TicketKeys other(KeyOf('c'), std::nullopt);
  TicketKeys previous_only(KeyOf('b', kT - 86400), std::nullopt);
  std::string t = keys.Issue("alice@pam", kT);
  std::string by_previous = previous_only.Issue("bob@pam", kT);
  struct Case {
    const char* name;
    std::string ticket;
    int64_t now;
    const char* user;  // nullptr: rejected
  };
  std::string tampered = t;
  tampered[tampered.size() - 5] ^= 1;
  std::string other_user = t;
  other_user.replace(4, 5, "mally");  // "alice" -> "mally": signature no longer matches
  const Case cases[] = {
      {"fresh", t, kT, "alice@pam"},
      {"at the end of its life", t, kT + 7200, "alice@pam"},
      {"expired", t, kT + 7201, nullptr},
      {"from the near future", t, kT - 300, "alice@pam"},
      {"from beyond 300 s in the future", t, kT - 301, nullptr},
      {"signed by the previous key", by_previous, kT, "bob@pam"},
      {"other key", other.Issue("alice@pam", kT), kT, nullptr},
      {"tampered signature", tampered, kT, nullptr},
      {"other user", other_user, kT, nullptr},
      {"no signature", t.substr(0, t.find("::") + 2), kT, nullptr},
      {"no user", keys.Issue("", kT), kT, nullptr},
      {"token id as user", keys.Issue("alice@pam!t", kT), kT, nullptr},
      {"lowercase time", "PVE:alice@pam:6b49d200::" + t.substr(t.find("::") + 2), kT, nullptr},
      {"space", t + " ", kT, nullptr},
      {"garbage", "hello", kT, nullptr},
      {"empty", "", kT, nullptr},
  };
  for (const Case& c : cases) {
    Result<std::string> user = keys.Verify(c.ticket, c.now);
    if (c.user) {
      ASSERT_TRUE(user.ok()) << c.name << ": " << user.status().message();
      EXPECT_EQ(*user, c.user) << c.name;
    } else {
      ASSERT_FALSE(user.ok()) << c.name;
      EXPECT_EQ(user.status().code(), Code::kPermissionDenied) << c.name;
    }
  }
}

TEST(TicketTest, OtherUserTimeChangeFails) {
  TicketKeys keys(KeyOf('a'), std::nullopt);
  std::string t = keys.Issue("alice@pam", kT);
  std::string later = t;
  later.replace(later.find("6B49D200"), 8, "6B49D201");
  EXPECT_FALSE(keys.Verify(later, kT).ok());
}

TEST(TicketTest, KeyFileParse) {
  std::string k1 = Base64Encode(std::string(32, 'x')), k2 = Base64Encode(std::string(32, 'y'));
  Result<TicketKeys> keys = TicketKeys::Parse("100 " + k1 + "\n50 " + k2 + "\n", "authkey.key");
  ASSERT_TRUE(keys.ok()) << keys.status().message();
  EXPECT_EQ(keys->current().created, 100);
  EXPECT_EQ(keys->previous()->key, std::string(32, 'y'));
  EXPECT_EQ(keys->Serialize(), "100 " + k1 + "\n50 " + k2 + "\n");
  for (const std::string& bad : std::vector<std::string>{
           "", "100\n", "x " + k1 + "\n", "100 " + Base64Encode("short") + "\n",
           "1 " + k1 + "\n2 " + k1 + "\n3 " + k1 + "\n"}) {
    Result<TicketKeys> r = TicketKeys::Parse(bad, "authkey.key");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message().find(k1), std::string::npos);  // never the key
    EXPECT_TRUE(r.status().message().starts_with("authkey.key")) << r.status().message();
  }
}

TEST_F(TempDirTest, KeyFileCreateAndRotate) {
  std::string path = dir_ + "/priv/authkey.key";
  Result<TicketKeys> keys = TicketKeys::LoadOrCreate(path, kT);
  ASSERT_TRUE(keys.ok()) << keys.status().message();
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ + "/priv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_FALSE(keys->previous());

  // Loading again gives the same key.
  Result<TicketKeys> again = TicketKeys::LoadOrCreate(path, kT + 10);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->current().key, keys->current().key);

  std::string t = keys->Issue("alice@pam", kT + 86000);
  EXPECT_FALSE(*keys->RotateIfDue(path, kT + 86400));  // exactly 24 h: not yet
  ASSERT_TRUE(*keys->RotateIfDue(path, kT + 86401));
  EXPECT_EQ(keys->current().created, kT + 86401);
  ASSERT_TRUE(keys->previous());
  EXPECT_EQ(keys->previous()->key, again->current().key);
  // A ticket of the old key still verifies; the file has both keys.
  EXPECT_EQ(*keys->Verify(t, kT + 86500), "alice@pam");
  Result<TicketKeys> reread = TicketKeys::LoadOrCreate(path, kT + 86500);
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->Serialize(), keys->Serialize());
  // Another process holding the old keys picks up the rotation instead of
  // rotating again.
  ASSERT_TRUE(*again->RotateIfDue(path, kT + 86402));
  EXPECT_EQ(again->Serialize(), keys->Serialize());
  // The oldest key is dropped at the next rotation.
  ASSERT_TRUE(*keys->RotateIfDue(path, kT + 2 * 86401 + 1));
  EXPECT_FALSE(keys->Verify(t, kT + 86500).ok());
}

TEST(CsrfTest, IssueAndVerify) {
  CsrfKey key(std::string(32, 'k'));
  std::string tok = key.Issue("alice@pam", kT);
  EXPECT_TRUE(std::regex_match(tok, std::regex(R"(^6B49D200:[A-Za-z0-9+/]{43}$)"))) << tok;
  EXPECT_TRUE(key.Verify(tok, "alice@pam", kT));
  EXPECT_TRUE(key.Verify(tok, "alice@pam", kT + 7200));
  EXPECT_TRUE(key.Verify(tok, "alice@pam", kT - 300));
  EXPECT_FALSE(key.Verify(tok, "alice@pam", kT + 7201));
  EXPECT_FALSE(key.Verify(tok, "alice@pam", kT - 301));
  EXPECT_FALSE(key.Verify(tok, "bob@pam", kT));
  EXPECT_FALSE(CsrfKey(std::string(32, 'j')).Verify(tok, "alice@pam", kT));
  std::string tampered = tok;
  tampered[12] = tampered[12] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(key.Verify(tampered, "alice@pam", kT));
  std::string moved = tok;
  moved[7] = '1';  // another time with the same MAC
  EXPECT_FALSE(key.Verify(moved, "alice@pam", kT));
  EXPECT_FALSE(key.Verify("", "alice@pam", kT));
  EXPECT_FALSE(key.Verify(tok + "=", "alice@pam", kT));
}

TEST_F(TempDirTest, CsrfKeyFile) {
  std::string path = dir_ + "/priv/csrf.key";
  Result<CsrfKey> a = CsrfKey::LoadOrCreate(path);
  ASSERT_TRUE(a.ok()) << a.status().message();
  Result<CsrfKey> b = CsrfKey::LoadOrCreate(path);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->Verify(a->Issue("alice@pam", kT), "alice@pam", kT));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(sys::WriteFileAtomic(path, "not a key\n", 0600).ok());
  Result<CsrfKey> bad = CsrfKey::LoadOrCreate(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(path + ":1:"), std::string::npos);
}

}  // namespace
}  // namespace ctdump::access
