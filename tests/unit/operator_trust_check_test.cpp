// Verify's decision (operator/trust_check) and apply's grant registry
// (operator/trust_grants): pure, over documents and a Store.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "kube/store.hpp"
#include "operator/binding_view.hpp"
#include "operator/policy.hpp"
#include "operator/trust_check.hpp"
#include "operator/trust_grants.hpp"

using json = nlohmann::json;
using gtoken::TrustObservation;
using Kind = gtoken::TrustObservation::Kind;

namespace {

const std::string kUid = "112233445566778899001";
const std::string kAud = "gtoken/sts/assume-role-with-web-identity";
const std::string kRole = "arn:aws:iam::123456789012:role/gtoken/app";
const std::string kIssuer = "https://issuer.example.com/cluster";

gtoken::BindingView google_binding() {
  return gtoken::view_binding(
      json{{"metadata", {{"name", "b"}, {"namespace", "ns"}}},
           {"spec",
            {{"serviceAccountName", "app"},
             {"gcpServiceAccount", "up@p.iam.gserviceaccount.com"},
             {"awsRoleArn", kRole}}}},
      kAud);
}

gtoken::BindingView kubernetes_binding() {
  return gtoken::view_binding(json{{"metadata", {{"name", "k"}, {"namespace", "ns"}}},
                                   {"spec",
                                    {{"serviceAccountName", "app"},
                                     {"tokenSource", "Kubernetes"},
                                     {"awsRoleArn", kRole}}}},
                              kAud);
}

gtoken::TrustCondition check(const std::string& document,
                             const gtoken::BindingView& b = google_binding()) {
  TrustObservation seen{Kind::Read, document, ""};
  return gtoken::trust_condition(seen, gtoken::binding_web_identity(b, kUid, ""), kRole);
}

}  // namespace

TEST_CASE("what status.awsTrustPolicy renders is Verified, by evaluation") {
  auto c = check(gtoken::aws_trust_policy(kUid, kAud).dump(2));
  CHECK(c.status == "True");
  CHECK(c.reason == "Verified");
  CHECK_FALSE(c.failing());
  // The same statement laid out by hand (keys reordered, one-element lists)
  // is the same policy to STS, and so to verify.
  json hand = gtoken::aws_trust_policy(kUid, kAud);
  auto& cond = hand["Statement"][0]["Condition"]["StringEquals"];
  for (auto& [k, v] : cond.items()) v = json::array({v});
  CHECK(check(hand.dump()).reason == "Verified");
}

TEST_CASE("a typo in the audience is a Mismatch naming oaud; another GSA's id names sub") {
  auto c = check(gtoken::aws_trust_policy(kUid, kAud + "x").dump());
  CHECK(c.status == "False");
  CHECK(c.reason == "TrustPolicyMismatch");
  CHECK(c.message.find("oaud") != std::string::npos);
  CHECK(c.message.find(kAud) != std::string::npos);
  CHECK(c.failing());
  auto other = check(gtoken::aws_trust_policy("999", kAud).dump());
  CHECK(other.reason == "TrustPolicyMismatch");
  CHECK(other.message.find("sub") != std::string::npos);
}

TEST_CASE("an explicit Deny beside the right Allow wins") {
  json p = gtoken::aws_trust_policy(kUid, kAud);
  json deny = p["Statement"][0];
  deny["Effect"] = "Deny";
  deny["Sid"] = "NoUploader";
  p["Statement"].push_back(deny);
  auto c = check(p.dump());
  CHECK(c.reason == "TrustPolicyMismatch");
  CHECK(c.message.find("NoUploader") != std::string::npos);
}

TEST_CASE("no statement for Google is Missing, and points at status.awsTrustPolicy") {
  const std::string foreign = R"({"Version":"2012-10-17","Statement":[{"Sid":"Ops",
    "Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},
    "Action":"sts:AssumeRole"}]})";
  auto c = check(foreign);
  CHECK(c.reason == "TrustPolicyMissing");
  CHECK(c.status == "False");
  CHECK(c.message.find("status.awsTrustPolicy") != std::string::npos);
  // apply's note (why gtoken did not write it) is carried along
  TrustObservation seen{Kind::Read, foreign, "role path /team/ is outside /gtoken/"};
  auto noted = gtoken::trust_condition(
      seen, gtoken::binding_web_identity(google_binding(), kUid, ""), kRole);
  CHECK(noted.message.find("/gtoken/") != std::string::npos);
}

TEST_CASE("a Kubernetes-source binding is verified against its OIDC provider") {
  const auto b = kubernetes_binding();
  const std::string provider = gtoken::oidc_provider_arn(kIssuer, kRole);
  REQUIRE_FALSE(provider.empty());
  const auto req = gtoken::binding_web_identity(b, "", provider);
  json p = gtoken::aws_oidc_trust_policy(provider, gtoken::oidc_provider_path(kIssuer), "ns",
                                         "app", b.audience);
  auto ok = gtoken::trust_condition({Kind::Read, p.dump(), ""}, req, kRole);
  CHECK(ok.reason == "Verified");
  json other = gtoken::aws_oidc_trust_policy(provider, gtoken::oidc_provider_path(kIssuer), "ns",
                                             "someone-else", b.audience);
  CHECK(gtoken::trust_condition({Kind::Read, other.dump(), ""}, req, kRole).reason ==
        "TrustPolicyMismatch");
  // nothing to verify against without the issuer
  CHECK_THROWS_AS(gtoken::binding_web_identity(b, "", ""), std::invalid_argument);
  CHECK_THROWS_AS(gtoken::binding_web_identity(google_binding(), "", ""), std::invalid_argument);
}

TEST_CASE("what IAM said becomes the reason; only a refusal makes the condition fail") {
  const auto req = gtoken::binding_web_identity(google_binding(), kUid, "");
  struct Case {
    Kind kind;
    const char* status;
    const char* reason;
  };
  for (const Case& k : {Case{Kind::RoleNotFound, "False", "RoleNotFound"},
                        Case{Kind::TooLarge, "False", "TrustPolicyTooLarge"},
                        Case{Kind::AccessDenied, "Unknown", "AccessDenied"},
                        Case{Kind::IamError, "Unknown", "IamError"},
                        Case{Kind::Conflict, "Unknown", "TrustPolicyConflict"},
                        Case{Kind::Unverified, "Unknown", "Unverified"}}) {
    auto c = gtoken::trust_condition({k.kind, "", "detail-text"}, req, kRole);
    CAPTURE(k.reason);
    CHECK(c.status == k.status);
    CHECK(c.reason == k.reason);
    CHECK(c.message.find("detail-text") != std::string::npos);
  }
  CHECK(gtoken::trust_condition({Kind::AccessDenied, "", ""}, req, kRole).message.find(
            "iam:GetRole") != std::string::npos);
  // A document gtoken cannot read is not a verdict about the pods.
  CHECK(gtoken::trust_condition({Kind::Read, "{not json", ""}, req, kRole).status == "Unknown");
}

TEST_CASE("grants: changes name the roles to write, a moved grant both") {
  gtoken::TrustGrants g;
  const auto a = gtoken::aws::google_grant("1", kAud);
  const auto b2 = gtoken::aws::google_grant("2", kAud);
  const std::string other = "arn:aws:iam::123456789012:role/gtoken/other";
  CHECK(g.set("ns/a", kRole, a) == std::vector<std::string>{kRole});
  CHECK(g.set("ns/a", kRole, a).empty());  // unchanged
  CHECK(g.set("ns/b", kRole, b2) == std::vector<std::string>{kRole});
  CHECK(g.set("ns/c", kRole, std::nullopt).empty());  // may not apply: nothing to write
  CHECK(g.of(kRole).size() == 2);
  CHECK(g.set("ns/a", other, a) == std::vector<std::string>{kRole, other});
  CHECK(g.of(kRole).size() == 1);
  CHECK(g.of(other).size() == 1);
  CHECK(g.granted_role("ns/a") == other);
  CHECK(g.set("ns/a", other, std::nullopt) == std::vector<std::string>{other});
  CHECK_FALSE(g.granted_role("ns/a").has_value());
  g.forget("ns/b");
  CHECK(g.of(kRole).empty());
}

TEST_CASE("grants: a role is complete once every cached binding naming it is known") {
  kube::Store store;
  auto binding = [](const std::string& name, const std::string& role, bool deleting) {
    json b = {{"metadata", {{"name", name}, {"namespace", "ns"}}},
              {"spec", {{"awsRoleArn", role}}}};
    if (deleting) b["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z";
    return b;
  };
  store.apply(binding("a", kRole, false));
  store.apply(binding("b", kRole, false));
  store.apply(binding("gone", kRole, true));
  store.apply(binding("x", "arn:aws:iam::123456789012:role/elsewhere", false));
  gtoken::TrustGrants g;
  g.set("ns/a", kRole, gtoken::aws::google_grant("1", kAud));
  // b not reconciled yet: writing now would drop b's subject
  CHECK_FALSE(g.complete(kRole, store));
  g.set("ns/b", kRole, std::nullopt);
  CHECK(g.complete(kRole, store));  // the deleting binding needs nothing
}
