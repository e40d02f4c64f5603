// The webhook's own PKI: CA and serving certificate contents, verification,
// PEM bundles, and the Secret encoding.
#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>

#include "webhook/base64.hpp"
#include "webhook/certs.hpp"
#include "webhook/rotation.hpp"

using namespace gtoken::webhook;
using namespace std::chrono_literals;

namespace {

const TimePoint kNow = std::chrono::system_clock::from_time_t(1'900'000'000);

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

std::unique_ptr<X509, X509Free> parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return std::unique_ptr<X509, X509Free>(x);
}

ServingCertRequest request() {
  ServingCertRequest r;
  r.dns_names = service_dns_names("gtoken-webhook", "gtoken-system");
  r.ip_addresses = {"127.0.0.1", "::1"};
  r.validity = 3600s;
  return r;
}

}  // namespace

TEST_CASE("service DNS names: the .svc name first") {
  CHECK(service_dns_names("wh", "ns") ==
        std::vector<std::string>{"wh.ns.svc", "wh.ns.svc.cluster.local", "wh.ns", "wh"});
}

TEST_CASE("a CA is a P-256 CA certificate for its validity") {
  const CertKeyPem ca = create_ca("gtoken-webhook-ca", kNow, 86400s);
  CHECK(ca.key_pem.find("PRIVATE KEY") != std::string::npos);
  CHECK(key_matches_certificate(ca.cert_pem, ca.key_pem));
  const auto facts = inspect_certificate(ca.cert_pem);
  REQUIRE(facts);
  CHECK(facts->is_ca);
  CHECK(facts->common_name == "gtoken-webhook-ca");
  CHECK(facts->not_after == kNow + 86400s);
  CHECK(facts->not_before == kNow - kNotBeforeBackdate);
  CHECK(facts->fingerprint.size() == 64);

  auto x = parse(ca.cert_pem);
  REQUIRE(x);
  CHECK((X509_get_key_usage(x.get()) & KU_KEY_CERT_SIGN) != 0);
  CHECK(X509_get_pathlen(x.get()) == 0);
  EVP_PKEY* key = X509_get0_pubkey(x.get());
  CHECK(EVP_PKEY_get_base_id(key) == EVP_PKEY_EC);
  char group[64] = {0};
  size_t len = 0;
  REQUIRE(EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1);
  CHECK(std::string(group) == "prime256v1");
  // A self-signed CA verifies against itself.
  CHECK(certificate_verifies(ca.cert_pem, ca.cert_pem, kNow));
}

TEST_CASE("serials are random and 128 bits") {
  const auto a = inspect_certificate(create_ca("x", kNow, 60s).cert_pem);
  const auto b = inspect_certificate(create_ca("x", kNow, 60s).cert_pem);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->serial_hex != b->serial_hex);
  CHECK(a->serial_hex.size() >= 30);
  CHECK(a->serial_hex.size() <= 32);
}

TEST_CASE("a serving certificate: SANs, key usage, validity, verifies against its CA only") {
  const CertKeyPem ca = create_ca("ca", kNow, 86400s);
  const CertKeyPem other = create_ca("ca", kNow, 86400s);
  const CertKeyPem cert = issue_serving_certificate(ca, request(), kNow);
  CHECK(key_matches_certificate(cert.cert_pem, cert.key_pem));
  CHECK_FALSE(key_matches_certificate(cert.cert_pem, ca.key_pem));

  const auto facts = inspect_certificate(cert.cert_pem);
  REQUIRE(facts);
  CHECK_FALSE(facts->is_ca);
  CHECK(facts->common_name == "gtoken-webhook.gtoken-system.svc");
  CHECK(facts->dns_names == request().dns_names);
  CHECK(facts->ip_addresses == std::vector<std::string>{"127.0.0.1", "::1"});
  CHECK(facts->not_after == kNow + 3600s);

  auto x = parse(cert.cert_pem);
  REQUIRE(x);
  CHECK(X509_get_key_usage(x.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(x.get()) == XKU_SSL_SERVER);
  CHECK(X509_check_host(x.get(), "gtoken-webhook.gtoken-system.svc", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(x.get(), "127.0.0.1", 0) == 1);

  CHECK(certificate_verifies(cert.cert_pem, ca.cert_pem, kNow));
  CHECK(certificate_verifies(cert.cert_pem, ca.cert_pem, kNow + 3599s));
  CHECK_FALSE(certificate_verifies(cert.cert_pem, ca.cert_pem, kNow + 3601s));
  CHECK_FALSE(certificate_verifies(cert.cert_pem, other.cert_pem, kNow));
  // A bundle with several CAs: any of them will do.
  CHECK(certificate_verifies(cert.cert_pem, other.cert_pem + ca.cert_pem, kNow));
  CHECK_FALSE(certificate_verifies(cert.cert_pem, "", kNow));
  CHECK_FALSE(certificate_verifies("garbage", ca.cert_pem, kNow));
}

TEST_CASE("a serving certificate never outlives its CA") {
  const CertKeyPem ca = create_ca("ca", kNow, 100s);
  const auto facts = inspect_certificate(issue_serving_certificate(ca, request(), kNow).cert_pem);
  REQUIRE(facts);
  CHECK(facts->not_after == kNow + 100s);
  CHECK_THROWS_AS(issue_serving_certificate(ca, request(), kNow + 200s), CertError);
}

TEST_CASE("bad requests are refused") {
  const CertKeyPem ca = create_ca("ca", kNow, 100s);
  ServingCertRequest r = request();
  r.dns_names.push_back("bad name,DNS:evil");
  CHECK_THROWS_AS(issue_serving_certificate(ca, r, kNow), CertError);
  r = request();
  r.ip_addresses = {"300.1.1.1"};
  CHECK_THROWS_AS(issue_serving_certificate(ca, r, kNow), CertError);
  CHECK_THROWS_AS(
      issue_serving_certificate({ca.cert_pem, create_ca("x", kNow, 9s).key_pem}, request(), kNow),
      CertError);
  CHECK(is_valid_dns_name("a-b.c"));
  CHECK(is_valid_dns_name("*.example.com"));
  CHECK_FALSE(is_valid_dns_name("-a.b"));
  CHECK_FALSE(is_valid_dns_name("a..b"));
  CHECK_FALSE(is_valid_dns_name(""));
}

TEST_CASE("PEM bundles split into canonical certificates") {
  const CertKeyPem a = create_ca("a", kNow, 100s);
  const CertKeyPem b = create_ca("b", kNow, 100s);
  const std::string messy = "junk\n" + a.cert_pem + "\n\n" + b.cert_pem +
                            "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  const auto certs = split_certificates(messy);
  REQUIRE(certs.size() == 2);
  CHECK(certs[0] == a.cert_pem);
  CHECK(certs[1] == b.cert_pem);
  CHECK(same_certificates({a.cert_pem, b.cert_pem}, {b.cert_pem + a.cert_pem}));
  CHECK_FALSE(same_certificates({a.cert_pem}, {a.cert_pem, b.cert_pem}));
  CHECK(split_certificates(join_pem(certs)) == certs);
  CHECK(inspect_certificate("nothing") == std::nullopt);
}

TEST_CASE("the Secret round-trips the state and keeps foreign metadata") {
  CertState s;
  s.ca = create_ca("ca", kNow, 100s);
  s.next_ca = create_ca("ca", kNow, 200s);
  s.retired_ca = create_ca("old", kNow, 50s).cert_pem;
  RotationPolicy policy;
  policy.serving = request();
  s.serving = issue_serving_certificate(*s.ca, policy.serving, kNow);
  s.next_ca_published_at = kNow + 1s;
  s.ca_promoted_at = kNow - 10s;

  const nlohmann::json existing = {{"metadata",
                                    {{"name", "x"},
                                     {"resourceVersion", "42"},
                                     {"labels", {{"app", "gtoken"}}},
                                     {"annotations", {{"keep", "me"}}},
                                     {"managedFields", nlohmann::json::array()}}}};
  const auto secret = cert_secret("cert", "ns", s, existing);
  CHECK(secret["type"] == "kubernetes.io/tls");
  CHECK(secret["metadata"]["name"] == "cert");
  CHECK(secret["metadata"]["resourceVersion"] == "42");
  CHECK(secret["metadata"]["labels"]["app"] == "gtoken");
  CHECK(secret["metadata"]["annotations"]["keep"] == "me");
  CHECK_FALSE(secret["metadata"].contains("managedFields"));
  CHECK(base64_decode(secret["data"]["ca.crt"].get<std::string>()) == s.ca->cert_pem);
  CHECK(cert_state_from_secret(secret) == s);

  CertState empty;
  const auto bare = cert_secret("cert", "ns", empty);
  CHECK(bare["data"]["tls.crt"] == "");
  CHECK(cert_state_from_secret(bare) == empty);
  CHECK(cert_state_from_secret(nlohmann::json("garbage")) == empty);
}

TEST_CASE("times: one fixed RFC 3339 form") {
  CHECK(format_time(kNow) == "2030-03-17T17:46:40Z");
  CHECK(parse_time("2030-03-17T17:46:40Z") == kNow);
  CHECK(parse_time("2030-03-17T17:46:40") == std::nullopt);
  CHECK(parse_time("2030-13-17T17:46:40Z") == std::nullopt);
}

TEST_CASE("base64 decode") {
  CHECK(base64_decode("aGVsbG8=") == "hello");
  CHECK(base64_decode("aGVsbG8") == "hello");
  CHECK(base64_decode("") == "");
  CHECK(base64_decode("a") == std::nullopt);
  CHECK(base64_decode("a*==") == std::nullopt);
  const std::string bytes("\x00\xff\x10 binary", 9);
  CHECK(base64_decode(base64_encode(bytes)) == bytes);
}
