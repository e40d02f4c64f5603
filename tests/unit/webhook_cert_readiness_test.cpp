// Readiness (webhook/cert_readiness): the reasons in order, and the verdict
// through a whole CA rotation on a fake clock, including an apiserver copy
// of caBundle that lags behind and a served certificate that expires.
#include <doctest/doctest.h>

#include "kube/clock.hpp"
#include "webhook/base64.hpp"
#include "webhook/ca_bundles.hpp"
#include "webhook/cert_readiness.hpp"
#include "webhook/rotation.hpp"
#include "webhook_test_policy.hpp"

using namespace gtoken::webhook;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using gtoken::webhook::testing::test_policy;

std::shared_ptr<const json> configuration(const std::vector<std::string>& cas, int webhooks = 2) {
  json c = {{"metadata", {{"name", "gtoken"}}}, {"webhooks", json::array()}};
  for (int i = 0; i < webhooks; ++i) {
    c["webhooks"].push_back({{"name", "w" + std::to_string(i)},
                             {"clientConfig", {{"caBundle", base64_encode(join_pem(cas))}}}});
  }
  return std::make_shared<const json>(std::move(c));
}

struct Fixture {
  kube::FakeClock clock;
  RotationPolicy policy = test_policy();
  CertState state;

  void act(RotationAction a) { state = apply_rotation(state, a, policy, clock.now()); }

  ReadinessInput input(const std::string& served, const std::vector<std::string>& mutating_cas,
                       std::optional<std::vector<std::string>> validating_cas = std::nullopt) {
    ReadinessInput in;
    in.served_cert_pem = served;
    in.config_name = "gtoken";
    in.mutating_synced = true;
    in.mutating = configuration(mutating_cas);
    if (validating_cas) in.validating = configuration(*validating_cas, 1);
    in.now = clock.now();
    return in;
  }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "the reasons, in order") {
  act(RotationAction::CreateCa);
  act(RotationAction::IssueServingCert);
  const std::string served = state.serving->cert_pem;
  const std::vector<std::string> ca = {state.ca->cert_pem};

  ReadinessInput in = input("", ca);
  CHECK(certificate_not_ready_reason(in) == "no serving certificate loaded yet");
  in = input(served, ca);
  in.mutating_synced = false;
  CHECK(certificate_not_ready_reason(in) == "webhook configuration not read yet");
  in = input(served, ca);
  in.mutating = nullptr;
  CHECK(certificate_not_ready_reason(in) == "MutatingWebhookConfiguration gtoken not found");
  in = input(served, ca);
  in.mutating = std::make_shared<const json>(json{{"metadata", {{"name", "gtoken"}}}});
  CHECK(certificate_not_ready_reason(in) == "MutatingWebhookConfiguration gtoken has no webhooks");
  CHECK(certificate_not_ready_reason(input(served, ca)) == "");
  CHECK(certificate_not_ready_reason(input(served, ca, ca)) == "");
  // One webhook without a caBundle is enough to be unready.
  in = input(served, ca);
  json one_missing = *in.mutating;
  one_missing["webhooks"][1]["clientConfig"].erase("caBundle");
  in.mutating = std::make_shared<const json>(one_missing);
  CHECK(certificate_not_ready_reason(in) ==
        "caBundle does not verify the served certificate (yet)");
  // The validating configuration counts too.
  CHECK(certificate_not_ready_reason(input(served, ca, std::vector<std::string>{})) ==
        "caBundle does not verify the served certificate (yet)");
}

TEST_CASE_FIXTURE(Fixture, "readiness across a CA rotation, with the apiserver's copy lagging") {
  act(RotationAction::CreateCa);
  act(RotationAction::IssueServingCert);
  const std::string old_ca = state.ca->cert_pem;
  CHECK(certificate_not_ready_reason(input(state.serving->cert_pem, {old_ca})) == "");

  clock.advance(21s);  // the CA is within its lookahead
  // The first serving certificate (10 s) has expired; a new one from the old CA.
  CHECK(certificate_not_ready_reason(input(state.serving->cert_pem, {old_ca})) ==
        "caBundle does not verify the served certificate (yet)");
  act(RotationAction::IssueServingCert);
  const std::string old_cert = state.serving->cert_pem;
  CHECK(certificate_not_ready_reason(input(old_cert, {old_ca})) == "");
  act(RotationAction::CreateNextCa);
  const std::string new_ca = state.next_ca->cert_pem;
  // Published beside the old one: the old certificate still verifies.
  CHECK(certificate_not_ready_reason(input(old_cert, {old_ca, new_ca})) == "");
  act(RotationAction::MarkNextCaPublished);

  clock.advance(2s);
  act(RotationAction::PromoteNextCa);
  act(RotationAction::IssueServingCert);
  const std::string new_cert = state.serving->cert_pem;
  // A replica that loaded the new certificate, against the stored bundle of
  // old + new: ready. Against a copy that never got the new CA: not.
  CHECK(certificate_not_ready_reason(input(new_cert, {old_ca, new_ca}, {{old_ca, new_ca}})) == "");
  CHECK(certificate_not_ready_reason(input(new_cert, {old_ca})) ==
        "caBundle does not verify the served certificate (yet)");
  CHECK(certificate_not_ready_reason(input(new_cert, {old_ca, new_ca}, {{old_ca}})) ==
        "caBundle does not verify the served certificate (yet)");
  // A replica still serving the old certificate stays ready until the old CA
  // is retired from the bundle.
  CHECK(certificate_not_ready_reason(input(old_cert, {old_ca, new_ca})) == "");
  act(RotationAction::RetireOldCa);
  CHECK(certificate_not_ready_reason(input(old_cert, {new_ca})) ==
        "caBundle does not verify the served certificate (yet)");
  CHECK(certificate_not_ready_reason(input(new_cert, {new_ca})) == "");

  // Certificates expire without any event: the clock alone turns it.
  clock.advance(11s);
  CHECK(certificate_not_ready_reason(input(new_cert, {new_ca})) ==
        "caBundle does not verify the served certificate (yet)");
}

TEST_CASE("caBundle helpers: read per webhook, differs, written to every webhook") {
  const json c = {
      {"metadata", {{"name", "gtoken"}, {"managedFields", json::array()}}},
      {"webhooks",
       {{{"name", "a"}, {"clientConfig", {{"caBundle", base64_encode("x")}}}}, {{"name", "b"}}}}};
  CHECK(ca_bundles_of(c).size() == 2);
  CHECK(ca_bundles_of(c)[0].empty());               // "x" is no certificate
  CHECK(ca_bundle_differs(c, base64_encode("x")));  // b has none
  const json w = with_ca_bundle(c, base64_encode("y"));
  CHECK_FALSE(ca_bundle_differs(w, base64_encode("y")));
  CHECK(ca_bundle_differs(w, base64_encode("x")));
  CHECK_FALSE(w["metadata"].contains("managedFields"));
  CHECK(w["webhooks"][1]["name"] == "b");
  CHECK(ca_bundles_of(json::object()).empty());
}
