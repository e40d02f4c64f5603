#pragma once
// X.509 for the webhook's own PKI: a CA and the serving certificate it signs,
// ECDSA P-256, made with OpenSSL's EVP/X509 APIs in process (no openssl CLI).
//
// Only this header's .cpp includes OpenSSL headers. Randomness (keys,
// serials) comes from OpenSSL's CSPRNG; time comes in as a parameter.

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gtoken::webhook {

using TimePoint = std::chrono::system_clock::time_point;

// A certificate and its private key, both PEM. Private keys never go into
// logs, metrics, events or error messages.
struct CertKeyPem {
  std::string cert_pem;
  std::string key_pem;
  bool operator==(const CertKeyPem&) const = default;
};

// What the rest of the code reads from a certificate.
struct CertFacts {
  std::string fingerprint;  // SHA-256 of the DER, lower-case hex
  std::string serial_hex;
  std::string common_name;
  TimePoint not_before{};
  TimePoint not_after{};
  bool is_ca = false;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries, in order
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, text form
};

class CertError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Certificates are valid from this long before their issue time, so that a
// verifier whose clock runs slightly behind ours accepts them at once.
inline constexpr std::chrono::seconds kNotBeforeBackdate{300};

struct ServingCertRequest {
  std::vector<std::string> dns_names;     // the first one is also the subject CN
  std::vector<std::string> ip_addresses;  // IPv4 or IPv6 literals
  std::chrono::seconds validity{0};
};

// A self-signed CA (basicConstraints CA:TRUE pathlen:0, keyUsage keyCertSign).
CertKeyPem create_ca(const std::string& common_name, TimePoint now, std::chrono::seconds validity);

// A serving certificate (serverAuth, digitalSignature) signed by `ca`, valid
// from now for `validity`, but never beyond the CA's own notAfter: a
// certificate outliving its issuer would only fail later.
// Throws CertError for an unusable CA or an invalid name/IP.
CertKeyPem issue_serving_certificate(const CertKeyPem& ca, const ServingCertRequest& request,
                                     TimePoint now);

// The names the apiserver may use for a Service: <svc>.<ns>.svc first (what
// it verifies), then .svc.cluster.local, <svc>.<ns> and <svc>.
std::vector<std::string> service_dns_names(const std::string& service, const std::string& ns);

// Facts of the first certificate in `pem`; nullopt when there is none or it
// does not parse.
std::optional<CertFacts> inspect_certificate(std::string_view pem);

// Every CERTIFICATE block of a PEM bundle, each re-encoded canonically (so
// the same certificate always gives the same bytes). Anything unparsable is
// skipped.
std::vector<std::string> split_certificates(std::string_view bundle_pem);

// True when the private key belongs to the certificate.
bool key_matches_certificate(std::string_view cert_pem, std::string_view key_pem);

// True when the first certificate of `cert_pem` verifies at `at` against one
// of the certificates of `ca_bundle_pem` as a trust anchor, for TLS server
// use: what the apiserver checks with the webhook's caBundle.
bool certificate_verifies(std::string_view cert_pem, std::string_view ca_bundle_pem, TimePoint at);

// True when `name` is a DNS name we put into a certificate: dot-separated
// labels of letters, digits and '-', optionally "*." first.
bool is_valid_dns_name(std::string_view name);
bool is_valid_ip_address(std::string_view ip);

}  // namespace gtoken::webhook
