// Serving (webhook/cert_serving): a changed Secret is loaded, the same bytes
// are not loaded again, a Secret that does not load leaves the current
// certificate, and what is served is fingerprinted for the replica report.
#include <doctest/doctest.h>

#include "kube/clock.hpp"
#include "kube/metrics.hpp"
#include "webhook/cert_serving.hpp"
#include "webhook_test_policy.hpp"

using namespace gtoken::webhook;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using gtoken::webhook::testing::test_policy;

std::string fingerprint(const std::string& pem) {
  const auto facts = inspect_certificate(pem);
  REQUIRE(facts);
  return facts->fingerprint;
}

struct Fixture {
  std::shared_ptr<kube::FakeClock> clock = std::make_shared<kube::FakeClock>();
  std::shared_ptr<kube::Metrics> metrics = std::make_shared<kube::Metrics>();
  std::vector<std::string> loaded;  // cert PEMs given to the server
  bool refuse = false;
  CertServing serving{[this](const CertKeyPem& pair) {
                        if (refuse) throw std::runtime_error("key does not match");
                        loaded.push_back(pair.cert_pem);
                      },
                      clock, metrics, nullptr};

  CertState bootstrap() {
    CertState s = apply_rotation({}, RotationAction::CreateCa, test_policy(), clock->now());
    return apply_rotation(s, RotationAction::IssueServingCert, test_policy(), clock->now());
  }
  json secret(const CertState& s) { return cert_secret("cert", "ns", s); }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "a new certificate is loaded once; the same bytes are not reloaded") {
  const CertState s = bootstrap();
  CHECK(serving.served_cert_pem().empty());
  CHECK(serving.on_secret(secret(s)));
  CHECK(loaded == std::vector<std::string>{s.serving->cert_pem});
  CHECK(serving.served_cert_pem() == s.serving->cert_pem);
  CHECK(serving.served().cert == fingerprint(s.serving->cert_pem));
  CHECK(serving.served().ca == fingerprint(s.ca->cert_pem));
  CHECK(metrics->value("gtoken_webhook_certificate_reloads_total", {{"result", "ok"}}) == 1);

  // An update that touches something else (an annotation, the next CA).
  const CertState with_next =
      apply_rotation(s, RotationAction::CreateNextCa, test_policy(), clock->now());
  CHECK_FALSE(serving.on_secret(secret(with_next)));
  CHECK(loaded.size() == 1);

  clock->advance(1s);
  const CertState renewed =
      apply_rotation(s, RotationAction::IssueServingCert, test_policy(), clock->now());
  CHECK(serving.on_secret(secret(renewed)));
  CHECK(loaded.size() == 2);
  CHECK(serving.served().cert == fingerprint(renewed.serving->cert_pem));
}

TEST_CASE_FIXTURE(Fixture, "a certificate the server refuses leaves the current one served") {
  const CertState s = bootstrap();
  REQUIRE(serving.on_secret(secret(s)));
  refuse = true;
  const CertState other = bootstrap();
  CHECK_FALSE(serving.on_secret(secret(other)));
  CHECK(serving.served_cert_pem() == s.serving->cert_pem);
  CHECK(serving.served().ca == fingerprint(s.ca->cert_pem));
  CHECK(metrics->value("gtoken_webhook_certificate_reloads_total", {{"result", "error"}}) == 1);
  // Once it loads, it is served (the failure is not remembered as served).
  refuse = false;
  CHECK(serving.on_secret(secret(other)));
  CHECK(serving.served_cert_pem() == other.serving->cert_pem);
}

TEST_CASE_FIXTURE(Fixture, "a Secret without a serving certificate loads nothing") {
  CHECK_FALSE(serving.on_secret(json{{"metadata", {{"name", "cert"}}}, {"data", json::object()}}));
  CHECK_FALSE(serving.on_secret(json::object()));
  CHECK(loaded.empty());
}

TEST_CASE_FIXTURE(Fixture, "the reported CA is the one that signed what is served") {
  CertState s = bootstrap();
  const std::string old_ca = s.ca->cert_pem;
  s = apply_rotation(s, RotationAction::CreateNextCa, test_policy(), clock->now());
  s = apply_rotation(s, RotationAction::MarkNextCaPublished, test_policy(), clock->now());
  const CertState promoted =
      apply_rotation(apply_rotation(s, RotationAction::PromoteNextCa, test_policy(), clock->now()),
                     RotationAction::IssueServingCert, test_policy(), clock->now());
  REQUIRE(promoted.retired_ca);
  // Serving the new CA's certificate.
  CHECK(served_fingerprints(promoted, *promoted.serving, clock->now()).ca ==
        fingerprint(promoted.ca->cert_pem));
  // A replica still serving the old certificate reports the retired CA.
  CHECK(served_fingerprints(promoted, *s.serving, clock->now()).ca == fingerprint(old_ca));
  // Nothing verifies an unrelated certificate.
  const CertState unrelated = bootstrap();
  CHECK(served_fingerprints(promoted, *unrelated.serving, clock->now()).ca.empty());
  CHECK(served_fingerprints(promoted, *unrelated.serving, clock->now()).cert ==
        fingerprint(unrelated.serving->cert_pem));
}
