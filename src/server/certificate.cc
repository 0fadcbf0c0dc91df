#include "server/certificate.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <memory>

#include "sys/file.h"

namespace ctdump::server {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME, X509_NAME_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

// The newest OpenSSL error of this thread, for a message.
std::string OpenSslError(std::string_view what) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  return fmt::format("making the API certificate: {} failed: {}", what, buf);
}

Status AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return InternalError(OpenSslError(fmt::format("extension {} = {}", OBJ_nid2sn(nid), value)));
  return Status::OK();
}

Result<std::string> SubjectAltNames(const CertificateRequest& r) {
  std::string out;
  auto add = [&out](std::string_view kind, const std::string& v) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}:{}", kind, v);
  };
  for (const auto& d : r.dns_names) {
    if (d.empty() || d.find_first_of(",:\n") != std::string::npos)
      return InvalidArgumentError(fmt::format("'{}' is no DNS name for a certificate", d));
    add("DNS", d);
  }
  for (const auto& ip : r.ip_addresses) {
    unsigned char buf[16];
    if (::inet_pton(AF_INET, ip.c_str(), buf) != 1 && ::inet_pton(AF_INET6, ip.c_str(), buf) != 1)
      return InvalidArgumentError(fmt::format("'{}' is no IP address", ip));
    add("IP", ip);
  }
  return out;
}

Result<std::string> ToPem(const std::function<int(BIO*)>& write, std::string_view what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return InternalError(OpenSslError(what));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

Result<CertificatePem> MakeSelfSignedCertificate(const CertificateRequest& request) {
  ASSIGN_OR_RETURN(std::string san, SubjectAltNames(request));
  if (request.common_name.empty() || request.common_name.size() > 64)
    return InvalidArgumentError(
        fmt::format("'{}' cannot be a certificate's common name", request.common_name));
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return InternalError(OpenSslError("an ECDSA P-256 key"));
  X509Ptr cert(X509_new());
  if (!cert) return InternalError(OpenSslError("X509_new"));
  X509_set_version(cert.get(), 2);  // v3
  // A random positive 127-bit serial (RFC 5280: at most 20 octets).
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) return InternalError(OpenSslError("RAND_bytes"));
  serial[0] &= 0x7f;
  BnPtr bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())))
    return InternalError(OpenSslError("the serial number"));
  constexpr long kDay = 24 * 3600;
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kDay) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), long{request.valid_days} * kDay))
    return InternalError(OpenSslError("the validity"));
  NamePtr name(X509_NAME_new());
  if (!name ||
      X509_NAME_add_entry_by_txt(
          name.get(), "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(request.common_name.c_str()), -1, -1, 0) != 1 ||
      X509_set_subject_name(cert.get(), name.get()) != 1 ||
      X509_set_issuer_name(cert.get(), name.get()) != 1)
    return InternalError(OpenSslError("the subject name"));
  if (X509_set_pubkey(cert.get(), key.get()) != 1)
    return InternalError(OpenSslError("X509_set_pubkey"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_ext_key_usage, "serverAuth"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExtension(cert.get(), NID_authority_key_identifier, "keyid:always"));
  if (!san.empty()) RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_alt_name, san));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0)
    return InternalError(OpenSslError("signing"));

  CertificatePem out;
  ASSIGN_OR_RETURN(out.certificate,
                   ToPem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); }, "PEM"));
  ASSIGN_OR_RETURN(out.private_key, ToPem(
                                        [&](BIO* b) {
                                          return PEM_write_bio_PrivateKey(
                                              b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
                                        },
                                        "PEM key"));
  return out;
}

CertificateRequest HostCertificateRequest() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
    std::snprintf(host, sizeof(host), "localhost");
  std::string full = host;
  std::string shortname = full.substr(0, full.find('.'));
  CertificateRequest r;
  r.common_name = shortname;
  r.dns_names.push_back(shortname);
  // The FQDN as the resolver knows it (/etc/hosts first on Debian).
  struct addrinfo hints = {};
  hints.ai_flags = AI_CANONNAME;
  struct addrinfo* res = nullptr;
  if (::getaddrinfo(host, nullptr, &hints, &res) == 0 && res) {
    if (res->ai_canonname) {
      std::string canon = res->ai_canonname;
      if (canon != shortname && canon.find('.') != std::string::npos) r.dns_names.push_back(canon);
    }
    ::freeaddrinfo(res);
  }
  if (full != shortname && (r.dns_names.size() < 2 || r.dns_names[1] != full))
    r.dns_names.push_back(full);
  if (shortname != "localhost") r.dns_names.push_back("localhost");
  r.ip_addresses = {"127.0.0.1", "::1"};
  return r;
}

Result<bool> EnsureCertificate(const std::string& cert_path, const std::string& key_path,
                               const CertificateRequest& request) {
  bool have_cert = sys::PathExists(cert_path), have_key = sys::PathExists(key_path);
  if (have_cert && have_key) return false;
  if (have_cert || have_key)
    return FailedPreconditionError(fmt::format(
        "the API certificate '{}' exists but its key '{}' does not, or the other way round: "
        "give both (--cert, --key) or remove the one that is there to have a new pair made",
        cert_path, key_path));
  ASSIGN_OR_RETURN(CertificatePem pem, MakeSelfSignedCertificate(request));
  for (const std::string* p : {&key_path, &cert_path}) {
    size_t slash = p->rfind('/');
    if (slash != std::string::npos && slash > 0)
      RETURN_IF_ERROR(sys::MakeDirs(p->substr(0, slash), p == &key_path ? 0700 : 0755));
  }
  RETURN_IF_ERROR(sys::WriteFileAtomic(key_path, pem.private_key, 0600));
  RETURN_IF_ERROR(sys::WriteFileAtomic(cert_path, pem.certificate, 0644));
  return true;
}

Result<std::string> CertificateFingerprint(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();
  if (!cert) return InvalidArgumentError("no PEM certificate to take the fingerprint of");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &n) != 1)
    return InternalError(OpenSslError("X509_digest"));
  std::string out;
  for (unsigned int i = 0; i < n; ++i) out += fmt::format("{}{:02X}", i ? ":" : "", md[i]);
  return out;
}

}  // namespace ctdump::server
