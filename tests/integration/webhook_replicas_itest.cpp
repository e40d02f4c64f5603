// Two replicas through CA rotations and a leader failover: at every moment,
// each live replica serves a certificate that the caBundle stored in the
// apiserver verifies (checked over fresh TLS connections, for 127.0.0.1).
#include <doctest/doctest.h>
#include <signal.h>

#include "kube/base64.hpp"
#include "tests/integration/webhook_support.hpp"

using witest::json;
using namespace std::chrono_literals;

namespace {

std::string stored_bundle(witest::WebhookOperator& w) {
  const json config =
      w.client().get(kube::resources::mutating_webhook_configurations(), "", w.config_name());
  const std::string b64 = config["webhooks"][0]["clientConfig"].value("caBundle", "");
  return kube::base64_decode(b64).value_or("");
}

int bundle_size(const std::string& pem) {
  int n = 0;
  for (auto at = pem.find("BEGIN CERTIFICATE"); at != std::string::npos;
       at = pem.find("BEGIN CERTIFICATE", at + 1)) {
    ++n;
  }
  return n;
}

struct Probe {
  int checks = 0;
  int failures = 0;
  int max_bundle = 0;
  std::vector<std::string> errors;
};

// Probes every port for `duration`.
void probe(witest::WebhookOperator& w, const std::vector<int>& ports, std::chrono::seconds duration,
           Probe& p) {
  const auto end = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < end) {
    const std::string bundle = stored_bundle(w);
    p.max_bundle = std::max(p.max_bundle, bundle_size(bundle));
    for (const int port : ports) {
      ++p.checks;
      try {
        if (witest::verified_get(port, bundle, "/healthz") != 200)
          throw std::runtime_error("status");
      } catch (const std::exception& e) {
        ++p.failures;
        if (p.errors.size() < 5) p.errors.push_back(std::to_string(port) + ": " + e.what());
      }
    }
    std::this_thread::sleep_for(100ms);
  }
}

}  // namespace

TEST_CASE("two replicas, CA rotations and a leader failover: always verifiable") {
  const std::vector<std::string> flags = {"--cert-validity=12s",
                                          "--cert-lookahead=8s",
                                          "--ca-validity=30s",
                                          "--ca-lookahead=15s",
                                          "--ca-publish-delay=1s",
                                          "--ca-retire-grace=2s",
                                          "--webhook-replica-lease-duration=6s",
                                          "--lease-duration=4s",
                                          "--renew-deadline=3s",
                                          "--retry-period=1s",
                                          "--log-level=warn"};
  witest::WebhookOperator w(flags);
  REQUIRE(w.wait_ready());
  const int port2 = witest::free_port();
  auto second = std::make_unique<itest::Process>(w.argv_for(port2, "replica-2"));
  REQUIRE(itest::eventually(
      [&] {
        try {
          return witest::verified_get(port2, stored_bundle(w), "/readyz") == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      30s));

  // Both replicas report what they serve.
  kube::ListOptions lo;
  lo.label_selector = "gtoken.io/webhook-replica=true";
  CHECK(itest::eventually(
      [&] {
        const json leases = w.client().list(kube::resources::leases(), w.operator_namespace(), lo);
        return leases["items"].size() == 2;
      },
      10s));

  Probe both;
  probe(w, {w.port(), port2}, 35s, both);
  const double promotions =
      w.metric("gtoken_webhook_certificate_rotations_total{action=\"PromoteNextCa\"}");
  const double retirements =
      w.metric("gtoken_webhook_certificate_rotations_total{action=\"RetireOldCa\"}");
  MESSAGE("two replicas: " << both.checks << " checks, " << both.failures << " failures; "
                           << "CA promotions " << promotions << ", retirements " << retirements
                           << ", largest caBundle " << both.max_bundle << " CAs");
  for (const auto& e : both.errors) MESSAGE("failure: " << e);
  CHECK(both.failures == 0);
  CHECK(promotions >= 1);
  CHECK(retirements >= 1);
  CHECK(both.max_bundle >= 2);  // the new CA was published beside the old one

  // The leader dies without a word; the other replica takes over the writes
  // (its dead peer's report expires after 6 s and stops holding anything back).
  w.process().kill(SIGKILL);
  Probe after;
  probe(w, {port2}, 40s, after);
  MESSAGE("after failover: " << after.checks << " checks, " << after.failures << " failures");
  for (const auto& e : after.errors) MESSAGE("failure: " << e);
  CHECK(after.failures == 0);
  const std::string text = w.metrics_text(port2);
  CHECK(text.find("gtoken_webhook_certificate_rotations_total{action=\"PromoteNextCa\"}") !=
        std::string::npos);
  CHECK(text.find("gtoken_webhook_certificate_rotations_total{action=\"RetireOldCa\"}") !=
        std::string::npos);
}
