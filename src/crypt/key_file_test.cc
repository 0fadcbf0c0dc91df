// Key file version 2 (passphrase, scrypt), passphrase sources, the master key.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "crypt/crypt.h"
#include "crypt/key_format.h"
#include "crypt/master_key.h"
#include "crypt/passphrase.h"
#include "sys/file.h"

namespace ctdump::crypt {
namespace {

// Cheap scrypt parameters for tests that derive many times.
constexpr ScryptParams kFast{1024, 8, 1};

std::array<uint8_t, kKeySize> Master(uint8_t first) {
  std::array<uint8_t, kKeySize> m{};
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<uint8_t>(first + i);
  return m;
}

std::string SealedText(const Key& key, std::string_view pass, ScryptParams p = kFast) {
  Result<KeyFileContents> c = SealKeyFile(key, Kdf::kScrypt, pass, 1714564800, 1714568400, p);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return FormatKeyFileText(*c);
}

Result<Key> Open(std::string_view text, std::string_view pass) {
  ASSIGN_OR_RETURN(KeyFileContents c, ParseKeyFileText(text, "/k"));
  return OpenKeyFile(c, pass, "/k");
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> dir = sys::MakeTempDir("/tmp/ctdump-keyfile-test.");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
  }
  void TearDown() override { ASSERT_TRUE(sys::RemoveTree(dir_).ok()); }
  std::string dir_;
};

TEST(KeyFileV2Test, ScryptRoundTripAndClearMembers) {
  Key key = Key::FromMaster(Master(3));
  std::string text = SealedText(key, "correct horse");
  // No key material in clear; fingerprint, times and kdf are.
  EXPECT_EQ(text.find(Digest{key.master()}.Hex()), std::string::npos);
  EXPECT_NE(text.find(FingerprintString(key.fingerprint())), std::string::npos);
  EXPECT_NE(text.find("\"created\": \"2024-05-01T12:00:00Z\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"modified\": \"2024-05-01T13:00:00Z\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"kdf\": \"scrypt\""), std::string::npos);
  Result<KeyFileContents> c = ParseKeyFileText(text, "/k");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  KeyFileInfo info = c->Info();
  EXPECT_EQ(info.fingerprint, key.fingerprint());
  EXPECT_EQ(info.created, 1714564800);
  EXPECT_EQ(info.modified, 1714568400);
  EXPECT_EQ(info.kdf, Kdf::kScrypt);
  EXPECT_EQ(info.version, 2);
  Result<Key> back = Open(text, "correct horse");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->master(), key.master());
  // Each seal has its own salt and IV.
  EXPECT_NE(SealedText(key, "correct horse"), text);
}

// The example of docs/formats/key-file.md. Opened independently with Python
// (hashlib.scrypt, cryptography's HKDF and AESGCM, the AAD and checksum as
// documented): it pins the version 2 format.
TEST(KeyFileV2Test, DocumentedExampleOpens) {
  const std::string text =
      "{\n"
      "  \"format\": \"ctdump-key\",\n"
      "  \"version\": 2,\n"
      "  \"created\": \"2024-05-01T12:00:00Z\",\n"
      "  \"modified\": \"2024-05-01T12:00:00Z\",\n"
      "  \"kdf\": \"scrypt\",\n"
      "  \"scrypt\": {\n"
      "    \"n\": 65536,\n"
      "    \"r\": 8,\n"
      "    \"p\": 1,\n"
      "    \"salt\": \"7f2870f8eff0905be74e27be58cb486db71b864a65812f6ebe575a9a37bb6d00\"\n"
      "  },\n"
      "  \"iv\": \"5a2d44c49c544d8017f88c67\",\n"
      "  \"data\": \"c0ce422635408e9e7f69b1796f2167097b21d8eb854430f95d910f182e08305e\",\n"
      "  \"tag\": \"65d5df125a7c5c6188aa3c921794107d\",\n"
      "  \"fingerprint\": \"e5:ae:8c:4c:4b:89:73:94\",\n"
      "  \"checksum\": \"1183eacf8c2a359c\"\n"
      "}\n";
  Result<Key> k = Open(text, "correct horse battery staple");
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->master(), Master(0));
  EXPECT_EQ(Open(text, "correct horse battery stapl").status().code(), Code::kPermissionDenied);
}

TEST(KeyFileV2Test, WrongPassphrase) {
  std::string text = SealedText(Key::FromMaster(Master(3)), "correct horse");
  for (std::string_view wrong : {"correct hors", "Correct horse", "correct horse ", "x"}) {
    Result<Key> k = Open(text, wrong);
    ASSERT_FALSE(k.ok());
    EXPECT_EQ(k.status().code(), Code::kPermissionDenied);
    EXPECT_EQ(k.status().message(), "wrong passphrase for key file \"/k\"");
  }
}

TEST(KeyFileV2Test, EmptyPassphraseRefused) {
  Result<KeyFileContents> c = SealKeyFile(Key::FromMaster(Master(0)), Kdf::kScrypt, "", 0, 0);
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
}

TEST(KeyFileV2Test, DefaultParametersArePbs) {
  Result<KeyFileContents> c = SealKeyFile(Key::FromMaster(Master(0)), Kdf::kScrypt, "pw", 0, 0);
  ASSERT_TRUE(c.ok());
  std::string text = FormatKeyFileText(*c);
  EXPECT_NE(text.find("\"n\": 65536"), std::string::npos) << text;
  EXPECT_NE(text.find("\"r\": 8"), std::string::npos);
  EXPECT_NE(text.find("\"p\": 1"), std::string::npos);
  Result<Key> k = Open(text, "pw");
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->master(), Master(0));
}

TEST(KeyFileV2Test, KdfNoneRoundTrip) {
  Result<KeyFileContents> c = SealKeyFile(Key::FromMaster(Master(5)), Kdf::kNone, "", 10, 20);
  ASSERT_TRUE(c.ok());
  std::string text = FormatKeyFileText(*c);
  EXPECT_NE(text.find("\"version\": 2"), std::string::npos);
  Result<Key> k = ParseKeyFile(text, "/k");
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->master(), Master(5));
}

TEST(KeyFileV2Test, ScryptFileNeedsPassphraseInParseKeyFile) {
  Result<Key> k = ParseKeyFile(SealedText(Key::FromMaster(Master(0)), "pw"), "/k");
  EXPECT_EQ(k.status().code(), Code::kFailedPrecondition);
}

// Every damaged member is DataLoss naming it; nothing yields a key.
TEST(KeyFileV2Test, CorruptedMembers) {
  const std::string good = SealedText(Key::FromMaster(Master(1)), "pw");
  auto member = [&](const std::string& name) {
    size_t at = good.find("\"" + name + "\": \"");
    EXPECT_NE(at, std::string::npos) << name;
    size_t begin = at + name.size() + 5;
    return std::make_pair(begin, good.find('"', begin) - begin);
  };
  auto with = [&](const std::string& name, const std::string& value) {
    auto [begin, len] = member(name);
    std::string t = good;
    return t.replace(begin, len, value);
  };
  auto flipped = [&](const std::string& name) {
    auto [begin, len] = member(name);
    std::string t = good;
    t[begin + 1] = t[begin + 1] == '0' ? '1' : '0';
    return t;
  };
  struct Case {
    std::string text;
    std::string message;  // after "\"/k\": damaged: "
  };
  const std::vector<Case> cases = {
      {flipped("data"), "checksum mismatch"},
      {flipped("iv"), "checksum mismatch"},
      {flipped("tag"), "checksum mismatch"},
      {flipped("salt"), "checksum mismatch"},
      {flipped("fingerprint"), "checksum mismatch"},
      {flipped("checksum"), "checksum mismatch"},
      {with("data", "00"), "\"data\" is not 64 hex digits"},
      {with("iv", "zz"), "\"iv\" is not 24 hex digits"},
      {with("tag", ""), "\"tag\" is not 32 hex digits"},
      {with("salt", "1"), "\"scrypt\".\"salt\" is not 64 hex digits"},
      {with("fingerprint", "aa"), "\"fingerprint\" is not of the form aa:bb:cc:dd:ee:ff:00:11"},
      {with("created", "yesterday"), "\"created\" is not a time like 2024-05-01T12:00:00Z"},
      {with("modified", "2024-02-31T00:00:00Z"),
       "\"modified\" is not a time like 2024-05-01T12:00:00Z"},
      {std::string(good).replace(good.find("\"n\": 1024"), 9, "\"n\": 1000"),
       "\"scrypt\": scrypt parameters n=1000 r=8 p=1 are out of range"},
      {std::string(good).replace(good.find("\"n\": 1024"), 9, "\"n\": 1073741824"),
       "\"scrypt\": scrypt parameters n=1073741824 r=8 p=1 are out of range"},
      {std::string(good).replace(good.find("\"r\": 8"), 6, "\"r\": -8"),
       "\"scrypt\".\"r\" is missing or not a number"},
      {std::string(good).replace(good.find("\"iv\""), 4, "\"iv_\""),
       "\"iv\" is missing or not a string"},
  };
  for (const Case& c : cases) {
    Result<Key> k = Open(c.text, "pw");
    ASSERT_FALSE(k.ok()) << c.text;
    EXPECT_EQ(k.status().code(), Code::kDataLoss) << c.text;
    EXPECT_EQ(k.status().message(), "\"/k\": damaged: " + c.message);
  }
}

// Flipping any bit of the file breaks parsing, or the key comes out intact:
// never a different key, never garbage.
TEST(KeyFileV2Test, EveryBitFlipIsRejectedOrHarmless) {
  Key key = Key::FromMaster(Master(7));
  const std::string good = SealedText(key, "pw");
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit : {0x01, 0x20}) {
      std::string t = good;
      t[i] ^= static_cast<char>(bit);
      Result<Key> k = Open(t, "pw");
      if (k.ok()) {
        EXPECT_EQ(k->master(), key.master()) << i;
      } else {
        EXPECT_TRUE(k.status().code() == Code::kDataLoss ||
                    k.status().code() == Code::kInvalidArgument)
            << i << " " << k.status().ToString();
      }
    }
  }
}

// A file whose checksum was recomputed after an edit (a hand-made forgery):
// GCM still refuses it.
TEST(KeyFileV2Test, ForgedMembersFailAuthentication) {
  Key key = Key::FromMaster(Master(7));
  Result<KeyFileContents> c = SealKeyFile(key, Kdf::kScrypt, "pw", 0, 0, kFast);
  ASSERT_TRUE(c.ok());
  c->data[0] ^= 1;
  Result<Key> k = Open(FormatKeyFileText(*c), "pw");
  EXPECT_EQ(k.status().code(), Code::kPermissionDenied);
  c->data[0] ^= 1;
  c->fingerprint[0] ^= 1;  // bound by the AAD
  k = Open(FormatKeyFileText(*c), "pw");
  EXPECT_EQ(k.status().code(), Code::kPermissionDenied);
}

TEST(KeyFileV2Test, Rfc3339) {
  EXPECT_EQ(Rfc3339Utc(1714564800), "2024-05-01T12:00:00Z");
  EXPECT_EQ(*ParseRfc3339Utc("2024-05-01T12:00:00Z"), 1714564800);
  for (std::string_view bad :
       {"", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00", "2024-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z", "2024-05-01T12:00:00+01:00"})
    EXPECT_FALSE(ParseRfc3339Utc(bad).ok()) << bad;
}

using KeyFileIoTest = TempDir;

TEST_F(KeyFileIoTest, SaveScryptLoadAndInfo) {
  Key key = Key::FromMaster(Master(2));
  std::string path = dir_ + "/key.json";
  ASSERT_TRUE(key.SaveFile(path, Kdf::kScrypt, "s3cret").ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  Result<KeyFileInfo> info = Key::ReadFileInfo(path);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kdf, Kdf::kScrypt);
  EXPECT_EQ(info->fingerprint, key.fingerprint());
  EXPECT_EQ(info->version, 2);
  EXPECT_EQ(info->created, info->modified);
  Result<Key> back = Key::LoadFile(path, "s3cret");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->master(), key.master());
  Result<Key> wrong = Key::LoadFile(path, "s3cret!");
  EXPECT_EQ(wrong.status().message(), "wrong passphrase for key file \"" + path + "\"");
  // The file never holds the passphrase.
  EXPECT_EQ(sys::ReadFile(path)->find("s3cret"), std::string::npos);
}

TEST_F(KeyFileIoTest, LoadFileReadsPassphraseFromFileEnv) {
  std::string path = dir_ + "/key.json";
  ASSERT_TRUE(Key::FromMaster(Master(2)).SaveFile(path, Kdf::kScrypt, "from file").ok());
  ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/pass", "from file\nsecond line\n", 0600).ok());
  ::setenv(kPassphraseFileEnv, (dir_ + "/pass").c_str(), 1);
  Result<Key> k = Key::LoadFile(path);
  ::unsetenv(kPassphraseFileEnv);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->master(), Master(2));
}

// Without a passphrase source (a child without a controlling terminal) the
// error names the key file and the ways to give the passphrase.
TEST_F(KeyFileIoTest, LoadFileWithoutPassphraseSourceNamesFile) {
  std::string path = dir_ + "/key.json";
  ASSERT_TRUE(Key::FromMaster(Master(2)).SaveFile(path, Kdf::kScrypt, "pw").ok());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::setsid();
    for (const char* v : {kPassphraseFdEnv, kPassphraseFileEnv}) ::unsetenv(v);
    Result<Key> k = Key::LoadFile(path);
    std::string msg = k.ok() ? "ok" : std::string(k.status().message());
    (void)!::write(fds[1], msg.data(), msg.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  EXPECT_EQ(msg.rfind("key file \"" + path + "\" is protected by a passphrase: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("CTDUMP_KEY_PASSPHRASE_FILE"), std::string::npos) << msg;
}

TEST_F(KeyFileIoTest, V1FileInfo) {
  std::string path = dir_ + "/v1";
  ASSERT_TRUE(
      sys::WriteFileAtomic(path, FormatKeyFile(Key::FromMaster(Master(0)), 1714564800), 0600).ok());
  Result<KeyFileInfo> info = Key::ReadFileInfo(path);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->version, 1);
  EXPECT_EQ(info->kdf, Kdf::kNone);
  EXPECT_EQ(info->created, 1714564800);
  EXPECT_EQ(info->modified, 1714564800);
  EXPECT_EQ(FingerprintString(info->fingerprint), "e5:ae:8c:4c:4b:89:73:94");
  Result<Key> k = Key::LoadFile(path, "ignored");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->master(), Master(0));
}

TEST_F(KeyFileIoTest, ReplaceFileKeepsCreatedAndLeavesNoTemp) {
  Key key = Key::FromMaster(Master(4));
  std::string path = dir_ + "/key";
  ASSERT_TRUE(key.SaveFile(path, Kdf::kScrypt, "old").ok());
  // A temp file of a replace killed before its rename.
  ASSERT_TRUE(sys::WriteFileAtomic(path + ".tmp.AbCdEf", "x", 0600).ok());
  ASSERT_TRUE(key.ReplaceFile(path, Kdf::kScrypt, "new", 1000).ok());
  EXPECT_FALSE(sys::PathExists(path + ".tmp.AbCdEf"));
  Result<std::vector<std::string>> ls = [&]() -> Result<std::vector<std::string>> {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      names.push_back(e.path().filename());
    return names;
  }();
  EXPECT_EQ(*ls, std::vector<std::string>{"key"});
  EXPECT_EQ(Key::LoadFile(path, "old").status().code(), Code::kPermissionDenied);
  Result<Key> k = Key::LoadFile(path, "new");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->master(), key.master());
  EXPECT_EQ(Key::ReadFileInfo(path)->created, 1000);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // To "none" and back.
  ASSERT_TRUE(key.ReplaceFile(path, Kdf::kNone, "", 1000).ok());
  EXPECT_EQ(Key::ReadFileInfo(path)->kdf, Kdf::kNone);
  EXPECT_TRUE(Key::LoadFile(path).ok());
}

TEST_F(KeyFileIoTest, ReplaceRefusesMissingOrSymlink) {
  Key key = Key::FromMaster(Master(4));
  EXPECT_EQ(key.ReplaceFile(dir_ + "/missing", Kdf::kNone, "", 0).code(), Code::kNotFound);
  ASSERT_EQ(::symlink("/etc/passwd", (dir_ + "/link").c_str()), 0);
  EXPECT_EQ(key.ReplaceFile(dir_ + "/link", Kdf::kNone, "", 0).code(), Code::kFailedPrecondition);
}

// Passphrase sources.

class PassphraseTest : public TempDir {
 protected:
  void TearDown() override {
    for (const char* v :
         {kPassphraseFdEnv, kPassphraseFileEnv, kNewPassphraseFdEnv, kNewPassphraseFileEnv})
      ::unsetenv(v);
    TempDir::TearDown();
  }
};

TEST_F(PassphraseTest, FromPipeFd) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string data = "pass word\n";
  ASSERT_EQ(::write(fds[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fds[1]);
  ::setenv(kPassphraseFdEnv, std::to_string(fds[0]).c_str(), 1);
  ::setenv(kPassphraseFileEnv, "/nonexistent", 1);  // FD wins
  Result<std::string> p = ReadPassphrase("x: ", true);
  ::close(fds[0]);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, "pass word");  // one trailing newline dropped, inner space kept
}

TEST_F(PassphraseTest, FdKeepsAllButOneNewline) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "a\nb\n\n", 5), 5);
  ::close(fds[1]);
  ::setenv(kNewPassphraseFdEnv, std::to_string(fds[0]).c_str(), 1);
  Result<std::string> p = ReadNewPassphrase("x: ", false);
  ::close(fds[0]);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "a\nb\n");
}

TEST_F(PassphraseTest, FromFileFirstLine) {
  ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/p", "first\r\nsecond\n", 0600).ok());
  ::setenv(kPassphraseFileEnv, (dir_ + "/p").c_str(), 1);
  Result<std::string> p = ReadPassphrase("x: ", false);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "first");
}

TEST_F(PassphraseTest, BadSources) {
  struct Case {
    const char* env;
    std::string value;
    std::string content;  // of the file, when set
    std::string message;
  };
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[1]);
  const std::vector<Case> cases = {
      {kPassphraseFdEnv, "abc", "",
       "CTDUMP_KEY_PASSPHRASE_FD=\"abc\" is not a file descriptor number"},
      {kPassphraseFdEnv, "-1", "",
       "CTDUMP_KEY_PASSPHRASE_FD=\"-1\" is not a file descriptor number"},
      {kPassphraseFdEnv, "987", "",
       "CTDUMP_KEY_PASSPHRASE_FD=987: file descriptor 987 is not open"},
      {kPassphraseFdEnv, std::to_string(fds[0]), "",
       "The passphrase from CTDUMP_KEY_PASSPHRASE_FD=" + std::to_string(fds[0]) + " is empty"},
      {kPassphraseFileEnv, dir_ + "/missing", "",
       "Failed to open the passphrase file CTDUMP_KEY_PASSPHRASE_FILE=\"" + dir_ +
           "/missing\": No such file or directory"},
      {kPassphraseFileEnv, dir_ + "/empty", "\nsecret\n",
       "The passphrase from CTDUMP_KEY_PASSPHRASE_FILE=\"" + dir_ + "/empty\" is empty"},
  };
  for (const Case& c : cases) {
    if (!c.content.empty()) {
      ASSERT_TRUE(sys::WriteFileAtomic(c.value, c.content, 0600).ok());
    }
    ::setenv(c.env, c.value.c_str(), 1);
    Result<std::string> p = ReadPassphrase("x: ", false);
    ::unsetenv(c.env);
    ASSERT_FALSE(p.ok()) << c.value;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(p.status().message(), c.message);
    EXPECT_EQ(p.status().message().find("secret"), std::string::npos);
  }
  ::close(fds[0]);
}

// Without a controlling terminal and without the variables: an error naming
// the three ways (checked in a child that left its session's terminal).
TEST_F(PassphraseTest, NoSourceNamesAllThree) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::setsid();
    Result<std::string> p = ReadPassphrase("x: ", false);
    std::string msg = p.ok() ? "ok"
                             : std::to_string(static_cast<int>(p.status().code())) + " " +
                                   std::string(p.status().message());
    (void)!::write(fds[1], msg.data(), msg.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) msg.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(msg.substr(0, 2), std::to_string(static_cast<int>(Code::kFailedPrecondition)) + " ");
  EXPECT_NE(msg.find("CTDUMP_KEY_PASSPHRASE_FD"), std::string::npos) << msg;
  EXPECT_NE(msg.find("CTDUMP_KEY_PASSPHRASE_FILE"), std::string::npos) << msg;
  EXPECT_NE(msg.find("terminal"), std::string::npos) << msg;
}

}  // namespace
}  // namespace ctdump::crypt
