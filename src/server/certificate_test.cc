#include "server/certificate.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "sys/file.h"

namespace ctdump::server {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr Parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return X509Ptr(x);
}

// What a TLS client given the certificate as its only CA decides, in
// OpenSSL's strict X.509 mode (as Python 3.13's default context).
int VerifyAsOwnAnchor(X509* cert) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, cert);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  int ok = X509_verify_cert(ctx);
  int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return err;
}

TEST(CertificateTest, SelfSignedCertificateIsItsOwnTrustAnchorForItsNames) {
  CertificateRequest r;
  r.common_name = "pve1";
  r.dns_names = {"pve1", "pve1.example.org", "localhost"};
  r.ip_addresses = {"127.0.0.1", "::1"};
  auto pem = MakeSelfSignedCertificate(r);
  ASSERT_TRUE(pem.ok()) << pem.status().message();
  X509Ptr cert = Parse(pem->certificate);
  ASSERT_TRUE(cert);
  EXPECT_EQ(VerifyAsOwnAnchor(cert.get()), X509_V_OK)
      << X509_verify_cert_error_string(VerifyAsOwnAnchor(cert.get()));
  for (const char* host : {"pve1", "pve1.example.org", "localhost"})
    EXPECT_EQ(X509_check_host(cert.get(), host, 0, 0, nullptr), 1) << host;
  EXPECT_NE(X509_check_host(cert.get(), "other.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_ip_asc(cert.get(), "10.0.0.1", 0), 1);
  // ECDSA P-256, about ten years.
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
  int days = 0, secs = 0;
  ASSERT_EQ(
      ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()), X509_get0_notAfter(cert.get())),
      1);
  EXPECT_EQ(days, 3651);
  // The key is the certificate's.
  BIO* bio = BIO_new_mem_buf(pem->private_key.data(), static_cast<int>(pem->private_key.size()));
  EVP_PKEY* priv = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(priv, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), priv), 1);
  EVP_PKEY_free(priv);
}

TEST(CertificateTest, BadNamesAreRefused) {
  CertificateRequest r;
  r.common_name = "pve1";
  r.ip_addresses = {"300.1.1.1"};
  auto pem = MakeSelfSignedCertificate(r);
  ASSERT_FALSE(pem.ok());
  EXPECT_EQ(pem.status().message(), "'300.1.1.1' is no IP address");
  r.ip_addresses.clear();
  r.dns_names = {"a,DNS:evil"};
  EXPECT_FALSE(MakeSelfSignedCertificate(r).ok());
  r.dns_names.clear();
  r.common_name = "";
  EXPECT_FALSE(MakeSelfSignedCertificate(r).ok());
}

TEST(CertificateTest, HostRequestNamesThisHost) {
  CertificateRequest r = HostCertificateRequest();
  ASSERT_FALSE(r.common_name.empty());
  EXPECT_EQ(r.common_name.find('.'), std::string::npos);
  EXPECT_EQ(r.dns_names.front(), r.common_name);
  EXPECT_EQ(r.ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_TRUE(MakeSelfSignedCertificate(r).ok());
}

class EnsureCertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = sys::MakeTempDir("/tmp/ctdump-cert-test.");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
  }
  void TearDown() override { (void)sys::RemoveTree(dir_); }
  CertificateRequest Request() {
    CertificateRequest r;
    r.common_name = "h";
    r.dns_names = {"h"};
    return r;
  }
  std::string dir_;
};

TEST_F(EnsureCertificateTest, MadeOnceWithPrivateKeyModes) {
  std::string cert = dir_ + "/api.pem", key = dir_ + "/priv/api.key";
  auto made = EnsureCertificate(cert, key, Request());
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_TRUE(*made);
  struct stat st;
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((dir_ + "/priv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat(cert.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  std::string before = *sys::ReadFile(cert);
  made = EnsureCertificate(cert, key, Request());
  ASSERT_TRUE(made.ok());
  EXPECT_FALSE(*made);
  EXPECT_EQ(*sys::ReadFile(cert), before);
}

TEST_F(EnsureCertificateTest, HalfAPairIsAnError) {
  std::string cert = dir_ + "/api.pem", key = dir_ + "/api.key";
  ASSERT_TRUE(sys::WriteFileAtomic(cert, "x").ok());
  auto made = EnsureCertificate(cert, key, Request());
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(made.status().message().find(key), std::string::npos);
  EXPECT_EQ(*sys::ReadFile(cert), "x");
  EXPECT_FALSE(sys::PathExists(key));
}

TEST_F(EnsureCertificateTest, FingerprintAsOpensslPrintsIt) {
  std::string cert = dir_ + "/api.pem", key = dir_ + "/api.key";
  ASSERT_TRUE(EnsureCertificate(cert, key, Request()).ok());
  auto fp = CertificateFingerprint(*sys::ReadFile(cert));
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(fp->size(), 32u * 3 - 1);
  FILE* p = ::popen(("openssl x509 -noout -fingerprint -sha256 -in " + cert).c_str(), "r");
  ASSERT_NE(p, nullptr);
  char line[256] = {};
  ASSERT_NE(std::fgets(line, sizeof(line), p), nullptr);
  ::pclose(p);
  std::string out = line;
  EXPECT_EQ(out.substr(out.find('=') + 1), *fp + "\n");
  EXPECT_FALSE(CertificateFingerprint("no certificate").ok());
}

}  // namespace
}  // namespace ctdump::server
