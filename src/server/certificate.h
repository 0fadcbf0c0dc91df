// The API's TLS certificate (docs/design/api-server.md §4): made once by the
// privileged part when none is configured, loaded by the proxy.
//
// A made certificate is self-signed, ECDSA P-256 with SHA-256, valid for ten
// years from the day before it was made (a host whose clock is a little
// behind still accepts it), with CN = the host name and subject alternative
// names for the host name, its FQDN, `localhost`, 127.0.0.1 and ::1, so that
// a client given the file as its CA (`requests`' `verify=`, `curl
// --cacert`) checks the name it connects to. It is an end-entity
// certificate (CA:FALSE, serverAuth) that is its own issuer: OpenSSL, also in
// its strict X.509 mode, accepts it as a trust anchor.
#ifndef CTDUMP_SERVER_CERTIFICATE_H_
#define CTDUMP_SERVER_CERTIFICATE_H_

#include <string>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::server {

struct CertificateRequest {
  std::string common_name;                // the host name
  std::vector<std::string> dns_names;     // subject alternative names (DNS)
  std::vector<std::string> ip_addresses;  // subject alternative names (IP), textual
  int valid_days = 3650;
};

struct CertificatePem {
  std::string certificate;  // one PEM certificate
  std::string private_key;  // PKCS#8 PEM, unencrypted
};

// A new key pair and its self-signed certificate. Internal on an OpenSSL
// failure (with OpenSSL's reason); InvalidArgument for an IP address that
// does not parse.
Result<CertificatePem> MakeSelfSignedCertificate(const CertificateRequest& request);

// The request for this host: CN = the host name up to its first dot, DNS
// names the host name, its FQDN (when the resolver knows a longer one) and
// `localhost`, IPs 127.0.0.1 and ::1.
CertificateRequest HostCertificateRequest();

// Makes and writes a certificate when neither `cert_path` nor `key_path`
// exists: the key first (0600, in a directory made 0700), then the
// certificate (0644), each atomically. True when it made one. When exactly
// one of the two exists: FailedPrecondition naming the missing one (a
// half-configured pair is an operator's mistake, not something to paper
// over by replacing the other).
Result<bool> EnsureCertificate(const std::string& cert_path, const std::string& key_path,
                               const CertificateRequest& request);

// The SHA-256 fingerprint of the first certificate in `pem`, as PVE shows
// it: 32 upper-case hex pairs joined by ':'. InvalidArgument if `pem` holds
// no certificate.
Result<std::string> CertificateFingerprint(const std::string& pem);

}  // namespace ctdump::server

#endif  // CTDUMP_SERVER_CERTIFICATE_H_
