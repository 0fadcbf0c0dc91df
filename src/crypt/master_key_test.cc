#include "crypt/master_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "crypt/passphrase.h"
#include "sys/file.h"

namespace ctdump::crypt {
namespace {

std::array<uint8_t, kKeySize> Master(uint8_t first) {
  std::array<uint8_t, kKeySize> m{};
  for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<uint8_t>(first + i);
  return m;
}

// Two RSA 4096 pairs, made once (generation takes seconds).
class MasterKeyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::string> dir = sys::MakeTempDir("/tmp/ctdump-master-test.");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    for (const char* n : {"a", "b"}) {
      Status s = CreateMasterKeyPair(dir_ + "/" + n + "-public.pem",
                                     dir_ + "/" + n + "-private.pem", std::string("pw-") + n);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }
  static void TearDownTestSuite() { (void)sys::RemoveTree(dir_); }
  static std::string Path(const std::string& name) { return dir_ + "/" + name; }
  static inline std::string dir_;
};

TEST_F(MasterKeyTest, FilesAndModes) {
  struct stat st;
  ASSERT_EQ(::stat(Path("a-public.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(::stat(Path("a-private.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  Result<std::string> priv = sys::ReadFile(Path("a-private.pem"));
  EXPECT_NE(priv->find("-----BEGIN ENCRYPTED PRIVATE KEY-----"), std::string::npos);
  EXPECT_EQ(priv->find("pw-a"), std::string::npos);
  Result<std::string> pub = sys::ReadFile(Path("a-public.pem"));
  EXPECT_NE(pub->find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
}

TEST_F(MasterKeyTest, RefusesOverwrite) {
  Status s = CreateMasterKeyPair(Path("new-public.pem"), Path("a-private.pem"), "x");
  EXPECT_EQ(s.code(), Code::kAlreadyExists);
  EXPECT_NE(s.message().find("a-private.pem"), std::string::npos);
  EXPECT_FALSE(sys::PathExists(Path("new-public.pem")));
  EXPECT_EQ(CreateMasterKeyPair(Path("p2"), Path("q2"), "").code(), Code::kInvalidArgument);
}

TEST_F(MasterKeyTest, WrapUnwrapRoundTrip) {
  Result<MasterPublicKey> pub = MasterPublicKey::LoadPem(Path("a-public.pem"));
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  Result<MasterPrivateKey> priv = MasterPrivateKey::LoadPem(Path("a-private.pem"), "pw-a");
  ASSERT_TRUE(priv.ok()) << priv.status().ToString();
  EXPECT_EQ(pub->FingerprintString(), priv->FingerprintString());
  EXPECT_EQ(pub->FingerprintString().size(), 23u);
  Key key = Key::FromMaster(Master(11));
  Result<std::string> wrapped = pub->Wrap(key);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_EQ(wrapped->size(), 8u + 8u + 8u + 512u);
  EXPECT_EQ(wrapped->find(std::string(reinterpret_cast<const char*>(key.master().data()), 32)),
            std::string::npos);
  Result<Key> back = priv->Unwrap(*wrapped);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->master(), key.master());
  // OAEP is randomized.
  EXPECT_NE(*pub->Wrap(key), *wrapped);
}

TEST_F(MasterKeyTest, PassphraseFromEnvironment) {
  ASSERT_TRUE(sys::WriteFileAtomic(Path("pass"), "pw-b\n", 0600).ok());
  ::setenv(kPassphraseFileEnv, Path("pass").c_str(), 1);
  Result<MasterPrivateKey> priv = MasterPrivateKey::LoadPem(Path("b-private.pem"));
  ::unsetenv(kPassphraseFileEnv);
  ASSERT_TRUE(priv.ok()) << priv.status().ToString();
}

TEST_F(MasterKeyTest, WrongMasterKey) {
  Result<MasterPublicKey> pub_a = MasterPublicKey::LoadPem(Path("a-public.pem"));
  Result<MasterPrivateKey> priv_b = MasterPrivateKey::LoadPem(Path("b-private.pem"), "pw-b");
  ASSERT_TRUE(pub_a.ok() && priv_b.ok());
  Key key = Key::FromMaster(Master(1));
  Result<Key> k = priv_b->Unwrap(*pub_a->Wrap(key));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(k.status().message(), "the key " + FingerprintString(key.fingerprint()) +
                                      " was wrapped for master key " + pub_a->FingerprintString() +
                                      ", not for this master key (" + priv_b->FingerprintString() +
                                      ")");
}

TEST_F(MasterKeyTest, DamagedWrappedKey) {
  Result<MasterPublicKey> pub = MasterPublicKey::LoadPem(Path("a-public.pem"));
  Result<MasterPrivateKey> priv = MasterPrivateKey::LoadPem(Path("a-private.pem"), "pw-a");
  ASSERT_TRUE(pub.ok() && priv.ok());
  Key key = Key::FromMaster(Master(1));
  std::string good = *pub->Wrap(key);
  for (size_t i : {size_t{30}, size_t{200}, good.size() - 1}) {
    std::string bad = good;
    bad[i] ^= 0x40;
    Result<Key> k = priv->Unwrap(bad);
    ASSERT_FALSE(k.ok()) << i;
    EXPECT_EQ(k.status().code(), Code::kDataLoss) << i;
    EXPECT_NE(k.status().message().find("damaged"), std::string::npos);
  }
  // The clear key fingerprint changed: the inner copy no longer matches.
  std::string bad = good;
  bad[16] ^= 1;
  EXPECT_EQ(priv->Unwrap(bad).status().code(), Code::kDataLoss);
  EXPECT_EQ(priv->Unwrap(good.substr(0, 100)).status().code(), Code::kDataLoss);
  EXPECT_EQ(priv->Unwrap("garbage").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(priv->Unwrap("").status().code(), Code::kInvalidArgument);
}

TEST_F(MasterKeyTest, WrongPassphrase) {
  Result<MasterPrivateKey> priv = MasterPrivateKey::LoadPem(Path("a-private.pem"), "pw-b");
  ASSERT_FALSE(priv.ok());
  EXPECT_EQ(priv.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(priv.status().message(),
            "wrong passphrase for master key \"" + Path("a-private.pem") + "\"");
}

TEST_F(MasterKeyTest, PublicGivenAsPrivateAndViceVersa) {
  Result<MasterPrivateKey> priv = MasterPrivateKey::LoadPem(Path("a-public.pem"), "pw-a");
  ASSERT_FALSE(priv.ok());
  EXPECT_EQ(priv.status().code(), Code::kInvalidArgument);
  EXPECT_NE(priv.status().message().find("is a public key; the private key is needed"),
            std::string::npos)
      << priv.status().message();
  Result<MasterPublicKey> pub = MasterPublicKey::LoadPem(Path("a-private.pem"));
  ASSERT_FALSE(pub.ok());
  EXPECT_NE(pub.status().message().find("is a private key"), std::string::npos);
}

TEST_F(MasterKeyTest, NotPemOrDamaged) {
  ASSERT_TRUE(sys::WriteFileAtomic(Path("junk.pem"), "hello\n", 0600).ok());
  EXPECT_EQ(MasterPrivateKey::LoadPem(Path("junk.pem"), "x").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(MasterPublicKey::LoadPem(Path("junk.pem")).status().code(), Code::kInvalidArgument);
  std::string pub = *sys::ReadFile(Path("a-public.pem"));
  pub.erase(pub.size() / 2, 40);  // a line lost in copying
  ASSERT_TRUE(sys::WriteFileAtomic(Path("bad-public.pem"), pub, 0600).ok());
  Result<MasterPublicKey> k = MasterPublicKey::LoadPem(Path("bad-public.pem"));
  EXPECT_FALSE(k.ok());
  std::string priv = *sys::ReadFile(Path("a-private.pem"));
  priv.resize(priv.size() / 2);
  ASSERT_TRUE(sys::WriteFileAtomic(Path("cut-private.pem"), priv, 0600).ok());
  Result<MasterPrivateKey> p = MasterPrivateKey::LoadPem(Path("cut-private.pem"), "pw-a");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("cut-private.pem"), std::string::npos);
  EXPECT_EQ(p.status().message().find("pw-a"), std::string::npos);
  EXPECT_EQ(MasterPublicKey::LoadPem(Path("missing")).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace ctdump::crypt
