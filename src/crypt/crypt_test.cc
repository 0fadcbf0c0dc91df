#include "crypt/crypt.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "crypt/key_format.h"
#include "sys/file.h"

namespace ctdump::crypt {
namespace {

// Golden values computed independently with Python (hashlib, hmac and
// cryptography's HKDF and AESGCM) for the master key 00 01 02 .. 1f. They pin
// the derivation: chunk ids and fingerprints must never change.
constexpr char kGoldenFingerprint[] = "e5:ae:8c:4c:4b:89:73:94";
constexpr char kGoldenKeyedAbc[] =
    "b40a14a000cd9862c831a0f1bcae1f48c22dff4f8f2e69917247f746b1e83fd5";
constexpr char kGoldenChecksum[] = "630dcd2966c43366";

std::array<uint8_t, kKeySize> Master(uint8_t first) {
  std::array<uint8_t, kKeySize> m{};
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<uint8_t>(first + i);
  return m;
}

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256("").Hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256("abc").Hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").Hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// RFC 4231 section 4 (test case 5, a truncated output, does not apply).
TEST(HmacSha256Test, Rfc4231Vectors) {
  struct Case {
    std::string key;
    std::string data;
    const char* hex;
  };
  std::string key4;
  for (int i = 1; i <= 25; ++i) key4.push_back(static_cast<char>(i));
  const std::string big_key(131, '\xaa');
  const Case cases[] = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {key4, std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {big_key, "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {big_key,
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const Case& c : cases) EXPECT_EQ(HmacSha256(c.key, c.data).Hex(), c.hex) << c.data;
}

TEST(HmacSha256Test, EmptyKeyAndData) {
  // Python: hmac.new(b"", b"", "sha256").hexdigest()
  EXPECT_EQ(HmacSha256("", "").Hex(),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(HmacSha256Test, KeyedDigestIsHmacUnderTheIdKey) {
  // The general function and the chunk id share one implementation: the
  // golden keyed id of "abc" differs from an HMAC under the master itself.
  Key key = Key::FromMaster(Master(0));
  const auto& m = key.master();
  std::string master(reinterpret_cast<const char*>(m.data()), m.size());
  EXPECT_EQ(key.KeyedDigest("abc", 3).Hex(), kGoldenKeyedAbc);
  EXPECT_NE(HmacSha256(master, "abc").Hex(), kGoldenKeyedAbc);
}

TEST(ConstantTimeEqualTest, Cases) {
  EXPECT_TRUE(ConstantTimeEqual("", ""));
  EXPECT_TRUE(ConstantTimeEqual("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEqual("", "a"));
  EXPECT_TRUE(ConstantTimeEqual(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEqual(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(DigestTest, HexRoundTrip) {
  Digest d = Sha256("abc");
  Result<Digest> back = Digest::FromHex(d.Hex());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, d);
}

TEST(DigestTest, FromHexAcceptsUpperCase) {
  std::string upper = Sha256("abc").Hex();
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Result<Digest> d = Digest::FromHex(upper);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, Sha256("abc"));
}

TEST(DigestTest, FromHexRejects) {
  const std::string good = Sha256("abc").Hex();
  const std::vector<std::string> bad = {
      "",
      good.substr(0, 63),         // 63 digits
      good + "0",                 // 65 digits
      good.substr(0, 63) + "g",   // non-hex
      " " + good.substr(1),       // space
      good.substr(0, 62) + "0x",  // stray x
      std::string(64, '\0'),      // NULs
  };
  for (const std::string& hex : bad) {
    Result<Digest> d = Digest::FromHex(hex);
    ASSERT_FALSE(d.ok()) << hex;
    EXPECT_EQ(d.status().code(), Code::kInvalidArgument) << hex;
  }
}

TEST(FingerprintTest, String) {
  EXPECT_EQ(FingerprintString({0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11}),
            "aa:bb:cc:dd:ee:ff:00:11");
}

TEST(KeyTest, GoldenDerivation) {
  Key key = Key::FromMaster(Master(0));
  EXPECT_EQ(FingerprintString(key.fingerprint()), kGoldenFingerprint);
  EXPECT_EQ(key.KeyedDigest("abc", 3).Hex(), kGoldenKeyedAbc);
  EXPECT_EQ(key.master(), Master(0));
}

TEST(KeyTest, DecryptsGoldenCiphertext) {
  // AESGCM(HKDF(master, "ctdump enc v1")).encrypt(iv, "hello, ctdump", "header").
  Key key = Key::FromMaster(Master(0));
  std::string iv = Unhex("6465666768696a6b6c6d6e6f");
  std::string cipher = Unhex("ee30f8aab9c55f9b3c8719c6fb");
  std::string tag = Unhex("a510be6ce62ca49fc741b7fa35c059d3");
  std::string out;
  ASSERT_TRUE(key.Decrypt(cipher, "header", reinterpret_cast<const uint8_t*>(iv.data()),
                          reinterpret_cast<const uint8_t*>(tag.data()), &out)
                  .ok());
  EXPECT_EQ(out, "hello, ctdump");
}

TEST(KeyTest, KeyedDigestIsDeterministicAndNotSha256) {
  Key a = Key::FromMaster(Master(7));
  Key b = Key::FromMaster(Master(7));
  EXPECT_EQ(a.KeyedDigest("chunk", 5), b.KeyedDigest("chunk", 5));
  EXPECT_NE(a.KeyedDigest("chunk", 5), Sha256("chunk"));
  EXPECT_NE(a.KeyedDigest("chunk", 5), a.KeyedDigest("chunk!", 6));
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
}

TEST(KeyTest, DifferentMastersDifferentIdsAndFingerprints) {
  Key a = Key::FromMaster(Master(0));
  Key b = Key::FromMaster(Master(1));
  EXPECT_NE(a.KeyedDigest("chunk", 5), b.KeyedDigest("chunk", 5));
  EXPECT_NE(a.fingerprint(), b.fingerprint());
}

TEST(KeyTest, GenerateGivesDistinctKeys) {
  Result<Key> a = Key::Generate();
  Result<Key> b = Key::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->master(), b->master());
  EXPECT_NE(a->fingerprint(), b->fingerprint());
}

class EncryptTest : public ::testing::Test {
 protected:
  struct Sealed {
    uint8_t iv[kIvSize];
    uint8_t tag[kTagSize];
    std::string cipher;
  };
  Sealed Seal(std::string_view plain, std::string_view aad) {
    Sealed s;
    Status st = key_.Encrypt(plain, aad, s.iv, s.tag, &s.cipher);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return s;
  }
  // Decrypt into an `out` holding "prefix"; on failure `out` must be intact.
  Status Open(const Key& key, const Sealed& s, std::string_view aad, std::string* plain) {
    std::string out = "prefix";
    Status st = key.Decrypt(s.cipher, aad, s.iv, s.tag, &out);
    if (!st.ok()) {
      EXPECT_EQ(out, "prefix");
    } else {
      EXPECT_EQ(out.substr(0, 6), "prefix");
      *plain = out.substr(6);
    }
    return st;
  }
  void ExpectAuthFailure(const Key& key, const Sealed& s, std::string_view aad) {
    std::string plain;
    Status st = Open(key, s, aad, &plain);
    EXPECT_EQ(st.code(), Code::kDataLoss);
    EXPECT_NE(st.message().find("authentication failed"), std::string::npos) << st.message();
  }
  Key key_ = Key::FromMaster(Master(3));
};

TEST_F(EncryptTest, RoundTrip) {
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{4097}, size_t{1} << 20}) {
    std::string plain(size, '\0');
    for (size_t i = 0; i < size; ++i) plain[i] = static_cast<char>(i * 31 + 7);
    Sealed s = Seal(plain, "aad");
    ASSERT_EQ(s.cipher.size(), size);
    if (size >= 16) {
      EXPECT_NE(s.cipher, plain);
    }
    std::string back;
    Status st = Open(key_, s, "aad", &back);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(back, plain) << size;
  }
}

TEST_F(EncryptTest, EncryptAppends) {
  std::string out = "head";
  uint8_t iv[kIvSize], tag[kTagSize];
  ASSERT_TRUE(key_.Encrypt("body", "", iv, tag, &out).ok());
  ASSERT_EQ(out.size(), 8u);
  EXPECT_EQ(out.substr(0, 4), "head");
  std::string plain;
  ASSERT_TRUE(key_.Decrypt(std::string_view(out).substr(4), "", iv, tag, &plain).ok());
  EXPECT_EQ(plain, "body");
}

TEST_F(EncryptTest, IvsDiffer) {
  Sealed a = Seal("same", "");
  Sealed b = Seal("same", "");
  EXPECT_NE(std::string(a.iv, a.iv + kIvSize), std::string(b.iv, b.iv + kIvSize));
  EXPECT_NE(a.cipher, b.cipher);
}

TEST_F(EncryptTest, WrongKey) {
  Sealed s = Seal("secret data", "aad");
  ExpectAuthFailure(Key::FromMaster(Master(4)), s, "aad");
}

TEST_F(EncryptTest, FlippedCiphertextByte) {
  Sealed s = Seal("secret data", "aad");
  for (size_t i = 0; i < s.cipher.size(); ++i) {
    Sealed bad = s;
    bad.cipher[i] ^= 0x01;
    ExpectAuthFailure(key_, bad, "aad");
  }
}

TEST_F(EncryptTest, TruncatedCiphertext) {
  Sealed s = Seal("secret data", "aad");
  s.cipher.pop_back();
  ExpectAuthFailure(key_, s, "aad");
}

TEST_F(EncryptTest, FlippedAad) {
  Sealed s = Seal("secret data", "aad");
  ExpectAuthFailure(key_, s, "aae");
  ExpectAuthFailure(key_, s, "");
}

TEST_F(EncryptTest, FlippedTag) {
  Sealed s = Seal("secret data", "aad");
  for (size_t i = 0; i < kTagSize; ++i) {
    Sealed bad = s;
    bad.tag[i] ^= 0x80;
    ExpectAuthFailure(key_, bad, "aad");
  }
}

TEST_F(EncryptTest, FlippedIv) {
  Sealed s = Seal("secret data", "aad");
  s.iv[kIvSize - 1] ^= 0x01;
  ExpectAuthFailure(key_, s, "aad");
}

TEST_F(EncryptTest, EmptyPlaintextIsAuthenticated) {
  Sealed s = Seal("", "aad");
  ExpectAuthFailure(key_, s, "aaD");
  s.tag[0] ^= 1;
  ExpectAuthFailure(key_, s, "aad");
}

TEST_F(EncryptTest, ConcurrentUse) {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string plain(1000 + t, static_cast<char>('a' + t));
      for (int i = 0; i < 200; ++i) {
        uint8_t iv[kIvSize], tag[kTagSize];
        std::string cipher, back;
        if (!key_.Encrypt(plain, "x", iv, tag, &cipher).ok()) return;
        if (!key_.Decrypt(cipher, "x", iv, tag, &back).ok() || back != plain) return;
        if (key_.KeyedDigest(plain.data(), plain.size()) !=
            Key::FromMaster(Master(3)).KeyedDigest(plain.data(), plain.size()))
          return;
      }
      ok[t] = 1;
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1));
}

// Key files.

TEST(KeyFormatTest, GoldenText) {
  EXPECT_EQ(FormatKeyFile(Key::FromMaster(Master(0)), 0),
            "{\n"
            "  \"format\": \"ctdump-key\",\n"
            "  \"version\": 1,\n"
            "  \"created\": \"1970-01-01T00:00:00Z\",\n"
            "  \"kdf\": \"none\",\n"
            "  \"key\": \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\",\n"
            "  \"fingerprint\": \"" +
                std::string(kGoldenFingerprint) +
                "\",\n"
                "  \"checksum\": \"" +
                kGoldenChecksum +
                "\"\n"
                "}\n");
}

TEST(KeyFormatTest, ParseRoundTripAndUpperCaseHex) {
  Key key = Key::FromMaster(Master(9));
  std::string text = FormatKeyFile(key, 1714564800);
  EXPECT_NE(text.find("\"2024-05-01T12:00:00Z\""), std::string::npos);
  Result<Key> back = ParseKeyFile(text, "k");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->master(), key.master());
  // Hex members may be written in upper case by hand.
  std::string hex_key = Digest{key.master()}.Hex();
  std::string upper = hex_key;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  text.replace(text.find(hex_key), hex_key.size(), upper);
  back = ParseKeyFile(text, "k");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->master(), key.master());
}

TEST(KeyFormatTest, ParseErrors) {
  const std::string good = FormatKeyFile(Key::FromMaster(Master(0)), 0);
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string t = good;
    size_t pos = t.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    return t.replace(pos, from.size(), to);
  };
  struct Case {
    std::string text;
    Code code;
    std::string message;
  };
  const std::string p = "\"/x/key\": ";
  const std::vector<Case> cases = {
      {"", Code::kInvalidArgument, p + "not a ctdump key file (not JSON)"},
      {"\x7f"
       "ELF\x02\x01",
       Code::kInvalidArgument, p + "not a ctdump key file (not JSON)"},
      {"[1,2]", Code::kInvalidArgument, p + "not a ctdump key file (not a JSON object)"},
      {"{\"format\":\"ctdump-index\"}", Code::kInvalidArgument,
       p + "not a ctdump key file (no \"format\": \"ctdump-key\")"},
      {good.substr(0, good.size() / 2), Code::kInvalidArgument,
       p + "not a ctdump key file (not JSON)"},
      {std::string(kKeyFileMaxSize + 1, ' '), Code::kInvalidArgument,
       p + "not a ctdump key file (too large)"},
      {replaced("\"version\": 1", "\"version\": 7"), Code::kInvalidArgument,
       p + "unsupported key file version 7 (this ctdump reads versions 1 and 2)"},
      {replaced("\"version\": 1", "\"version\": \"1\""), Code::kDataLoss,
       p + "damaged: \"version\" is missing or not an integer"},
      {replaced("\"kdf\": \"none\"", "\"kdf\": \"argon2id\""), Code::kInvalidArgument,
       p + "unsupported key derivation \"argon2id\""},
      {replaced("\"kdf\"", "\"kdf_\""), Code::kDataLoss,
       p + "damaged: \"kdf\" is missing or not a string"},
      {replaced("\"created\"", "\"created_\""), Code::kDataLoss,
       p + "damaged: \"created\" is missing or not a string"},
      {replaced("\"key\": \"00", "\"key\": \"0"), Code::kDataLoss,
       p + "damaged: \"key\" is not 64 hex digits"},
      {replaced("\"key\": \"00", "\"key\": \"01"), Code::kDataLoss,
       p + "damaged: checksum mismatch"},
      {replaced(kGoldenChecksum, "630dcd2966c43367"), Code::kDataLoss,
       p + "damaged: checksum mismatch"},
      {replaced("\"checksum\"", "\"checksum_\""), Code::kDataLoss,
       p + "damaged: \"checksum\" is missing or not a string"},
      {replaced(kGoldenFingerprint, "e5:ae:8c:4c:4b:89:73:95"), Code::kDataLoss,
       p + "damaged: fingerprint mismatch (file says \"e5:ae:8c:4c:4b:89:73:95\", key has " +
           kGoldenFingerprint + ")"},
  };
  for (const Case& c : cases) {
    Result<Key> key = ParseKeyFile(c.text, "/x/key");
    ASSERT_FALSE(key.ok()) << c.text;
    EXPECT_EQ(key.status().code(), c.code) << c.text;
    EXPECT_EQ(key.status().message(), c.message);
  }
}

TEST(KeyFormatTest, EveryByteFlipIsRejectedOrHarmless) {
  // Flipping any byte either breaks parsing or leaves the key intact (e.g. a
  // change in "created" or whitespace); it never yields a different key.
  Key key = Key::FromMaster(Master(0));
  const std::string good = FormatKeyFile(key, 0);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string t = good;
    t[i] ^= 0x01;
    Result<Key> k = ParseKeyFile(t, "f");
    if (k.ok()) {
      EXPECT_EQ(k->master(), key.master()) << i;
    }
  }
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> dir = sys::MakeTempDir("/tmp/ctdump-crypt-test.");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
  }
  void TearDown() override { ASSERT_TRUE(sys::RemoveTree(dir_).ok()); }
  void Write(const std::string& path, std::string_view text) {
    ASSERT_TRUE(sys::WriteFileAtomic(path, text, 0600).ok());
  }
  std::string dir_;
};

TEST_F(KeyFileTest, SaveLoadRoundTrip) {
  Result<Key> key = Key::Generate();
  ASSERT_TRUE(key.ok());
  std::string path = dir_ + "/key";
  Status s = key->SaveFile(path);
  ASSERT_TRUE(s.ok()) << s.ToString();
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  Result<Key> back = Key::LoadFile(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->master(), key->master());
  EXPECT_EQ(back->fingerprint(), key->fingerprint());
}

TEST_F(KeyFileTest, ModeIsExactUnderPermissiveUmask) {
  mode_t old = ::umask(0);
  Status s = Key::FromMaster(Master(0)).SaveFile(dir_ + "/key");
  ::umask(old);
  ASSERT_TRUE(s.ok()) << s.ToString();
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(KeyFileTest, RefusesOverwrite) {
  std::string path = dir_ + "/key";
  ASSERT_TRUE(Key::FromMaster(Master(0)).SaveFile(path).ok());
  Status s = Key::FromMaster(Master(1)).SaveFile(path);
  EXPECT_EQ(s.code(), Code::kAlreadyExists);
  EXPECT_NE(s.message().find("\"" + path + "\""), std::string::npos) << s.message();
  Result<Key> back = Key::LoadFile(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->master(), Master(0));
}

TEST_F(KeyFileTest, RefusesDanglingSymlink) {
  std::string path = dir_ + "/link";
  ASSERT_EQ(::symlink((dir_ + "/target").c_str(), path.c_str()), 0);
  Status s = Key::FromMaster(Master(0)).SaveFile(path);
  EXPECT_EQ(s.code(), Code::kAlreadyExists);
  EXPECT_FALSE(sys::PathExists(dir_ + "/target"));
}

TEST_F(KeyFileTest, SaveIntoMissingDirectory) {
  Status s = Key::FromMaster(Master(0)).SaveFile(dir_ + "/no/key");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find(dir_ + "/no/key"), std::string::npos) << s.message();
}

TEST_F(KeyFileTest, LoadMissing) {
  std::string path = dir_ + "/missing";
  Result<Key> k = Key::LoadFile(path);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), Code::kNotFound);
  EXPECT_EQ(k.status().message(),
            "Failed to open key file \"" + path + "\": No such file or directory");
}

TEST_F(KeyFileTest, LoadErrorsNamePath) {
  std::string path = dir_ + "/key";
  ASSERT_TRUE(Key::FromMaster(Master(0)).SaveFile(path).ok());
  Result<std::string> good = sys::ReadFile(path);
  ASSERT_TRUE(good.ok());
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string t = *good;
    return t.replace(t.find(from), from.size(), to);
  };
  struct Case {
    std::string text;
    Code code;
    std::string message;
  };
  const std::string p = "\"" + path + "\": ";
  const std::string checksum = good->substr(good->find("\"checksum\": \"") + 13, 16);
  const std::vector<Case> cases = {
      {"garbage\n", Code::kInvalidArgument, p + "not a ctdump key file (not JSON)"},
      {replaced("\"version\": 2", "\"version\": 7"), Code::kInvalidArgument,
       p + "unsupported key file version 7 (this ctdump reads versions 1 and 2)"},
      {replaced(checksum, "0000000000000000"), Code::kDataLoss, p + "damaged: checksum mismatch"},
      {FormatKeyFile(Key::FromMaster(Master(0)), 0), Code::kOk, ""},  // version 1 still reads
  };
  for (const Case& c : cases) {
    ASSERT_EQ(::unlink(path.c_str()), 0);
    Write(path, c.text);
    Result<Key> k = Key::LoadFile(path);
    if (c.code == Code::kOk) {
      ASSERT_TRUE(k.ok()) << k.status().ToString();
      EXPECT_EQ(k->master(), Master(0));
      continue;
    }
    ASSERT_FALSE(k.ok()) << c.text;
    EXPECT_EQ(k.status().code(), c.code);
    EXPECT_EQ(k.status().message(), c.message);
  }
}

TEST_F(KeyFileTest, LoadDirectoryFails) {
  Result<Key> k = Key::LoadFile(dir_);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find(dir_), std::string::npos) << k.status().message();
}

}  // namespace
}  // namespace ctdump::crypt
