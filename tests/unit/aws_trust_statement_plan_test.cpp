// gtoken's statements in a role's trust policy: merge, idempotence, removal,
// foreign statements byte for byte, the size limit.
#include <doctest/doctest.h>

#include <string>

#include "aws/trust_evaluation.hpp"
#include "aws/trust_statement_plan.hpp"
#include "operator/policy.hpp"

using namespace gtoken::aws;
using json = nlohmann::json;
using Outcome = TrustPlan::Outcome;

namespace {

const std::string kAudience = "gtoken/sts/assume-role-with-web-identity";
const std::string kIssuer = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c";
const std::string kProviderArn =
    "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/p/locations/l/"
    "clusters/c";

// A role made by hand: pretty-printed, its own key order, an escape, and a
// statement for EC2 that gtoken must never touch.
const std::string kForeign = R"({
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Ec2",
            "Action": "sts:AssumeRole",
            "Principal": { "Service": "ec2.amazonaws.com" },
            "Effect": "Allow",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012", "x:note": "caf\u00e9 \/ \"q\""}}
        }
    ]
}
)";

WebIdentityRequest google_token(const std::string& id, const std::string& aud = kAudience) {
  return web_identity_request(kGoogleProvider, {{"sub", id}, {"azp", id}, {"aud", aud}});
}

WebIdentityRequest kubernetes_token(const std::string& ns, const std::string& ksa,
                                    const std::string& aud = "sts.amazonaws.com") {
  return web_identity_request(kProviderArn,
                              {{"sub", "system:serviceaccount:" + ns + ":" + ksa}, {"aud", aud}});
}

bool admits(const std::string& doc, const WebIdentityRequest& r) {
  return evaluate_web_identity(doc, r).allowed();
}

std::string foreign_statement(const std::string& doc) {
  const auto b = doc.find("{\n            \"Sid\": \"Ec2\"");
  const auto e = doc.find("}}\n        }", b);
  REQUIRE(b != std::string::npos);
  REQUIRE(e != std::string::npos);
  return doc.substr(b, e + 12 - b);
}

}  // namespace

TEST_CASE("merging into a hand-made role keeps its statement byte for byte") {
  const auto plan = plan_trust_statements(kForeign, {google_grant("111", kAudience)});
  CHECK(plan.outcome == Outcome::Update);
  CHECK(plan.sids == std::vector<std::string>{"GtokenManagedGoogle"});
  CHECK_FALSE(plan.placeholder);
  // Everything up to the end of the foreign statement is as it was, and so
  // is what follows gtoken's statement.
  const std::string foreign = foreign_statement(kForeign);
  const auto at = kForeign.find(foreign) + foreign.size();
  CHECK(plan.document.substr(0, at) == kForeign.substr(0, at));
  CHECK(plan.document.substr(plan.document.size() - 9) == "\n    ]\n}\n");
  CHECK(
      plan.document.find(
          ",\n        "
          R"({"Sid":"GtokenManagedGoogle","Effect":"Allow","Principal":{"Federated":"accounts.google.com"},)"
          R"("Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{)"
          R"("accounts.google.com:sub":"111","accounts.google.com:aud":"111",)"
          R"("accounts.google.com:oaud":"gtoken/sts/assume-role-with-web-identity"}}})") == at);
  CHECK(plan.size == iam_policy_size(plan.document));
  CHECK(plan.limit == 2048);
  CHECK(admits(plan.document, google_token("111")));
  CHECK_FALSE(admits(plan.document, google_token("222")));
}

TEST_CASE("gtoken's statement says what status.awsTrustPolicy says for one binding") {
  const auto plan = plan_trust_statements(kForeign, {google_grant("111", kAudience)});
  const auto ours = json::parse(plan.document)["Statement"][1];
  const auto rendered = gtoken::aws_trust_policy("111", kAudience)["Statement"][0];
  CHECK(ours["Condition"] == rendered["Condition"]);
  CHECK(ours["Principal"] == rendered["Principal"]);
  CHECK(ours["Action"] == rendered["Action"]);

  const auto k = plan_trust_statements(
      kForeign, {kubernetes_grant(kProviderArn, "jobs", "uploader", "sts.amazonaws.com")});
  const auto kours = json::parse(k.document)["Statement"][1];
  const auto krendered = gtoken::aws_oidc_trust_policy(
      gtoken::oidc_provider_arn(kIssuer, "arn:aws:iam::123456789012:role/r"),
      gtoken::oidc_provider_path(kIssuer), "jobs", "uploader", "sts.amazonaws.com")["Statement"][0];
  CHECK(kours["Condition"] == krendered["Condition"]);
  CHECK(kours["Principal"] == krendered["Principal"]);
  CHECK(kours["Sid"] == "GtokenManagedKubernetes");
}

TEST_CASE("the merge is idempotent, and the order of grants does not matter") {
  const std::vector<TrustGrant> grants = {
      google_grant("222", kAudience), google_grant("111", kAudience),
      kubernetes_grant(kProviderArn, "jobs", "uploader", "sts.amazonaws.com"),
      google_grant("111", kAudience)};  // two bindings of one GSA
  const auto first = plan_trust_statements(kForeign, grants);
  REQUIRE(first.outcome == Outcome::Update);
  const auto again = plan_trust_statements(first.document, grants);
  CHECK(again.outcome == Outcome::Unchanged);
  CHECK(again.document == first.document);
  const std::vector<TrustGrant> reversed(grants.rbegin(), grants.rend());
  CHECK(plan_trust_statements(first.document, reversed).outcome == Outcome::Unchanged);
  CHECK(plan_trust_statements(kForeign, reversed).document == first.document);
}

TEST_CASE("one statement per provider and audience: every subject of it, no cross-over") {
  const auto plan = plan_trust_statements(
      kForeign, {google_grant("111", kAudience), google_grant("222", kAudience),
                 google_grant("333", "https://other.example.com"),
                 kubernetes_grant(kProviderArn, "jobs", "uploader", "sts.amazonaws.com"),
                 kubernetes_grant(kProviderArn, "web", "api", "sts.amazonaws.com")});
  CHECK(plan.sids == std::vector<std::string>{"GtokenManagedGoogle", "GtokenManagedGoogle2",
                                              "GtokenManagedKubernetes"});
  const auto doc = json::parse(plan.document);
  CHECK(doc["Statement"][1]["Condition"]["StringEquals"]["accounts.google.com:sub"] ==
        json::array({"111", "222"}));
  CHECK(admits(plan.document, google_token("111")));
  CHECK(admits(plan.document, google_token("222")));
  CHECK(admits(plan.document, google_token("333", "https://other.example.com")));
  // A subject with another binding's audience is not let in.
  CHECK_FALSE(admits(plan.document, google_token("333")));
  CHECK_FALSE(admits(plan.document, google_token("111", "https://other.example.com")));
  CHECK(admits(plan.document, kubernetes_token("jobs", "uploader")));
  CHECK(admits(plan.document, kubernetes_token("web", "api")));
  CHECK_FALSE(admits(plan.document, kubernetes_token("web", "uploader", "other")));
  CHECK_FALSE(admits(plan.document, kubernetes_token("kube-system", "default")));
}

TEST_CASE("removing a binding removes only its subject; the last one removes the statement") {
  const auto two = plan_trust_statements(
      kForeign, {google_grant("111", kAudience), google_grant("222", kAudience)});
  const auto one = plan_trust_statements(two.document, {google_grant("111", kAudience)});
  CHECK(one.outcome == Outcome::Update);
  CHECK(admits(one.document, google_token("111")));
  CHECK_FALSE(admits(one.document, google_token("222")));
  const auto none = plan_trust_statements(one.document, {});
  CHECK(none.outcome == Outcome::Update);
  CHECK(none.sids.empty());
  // Added and then removed: the document is the one it was, byte for byte.
  CHECK(none.document == kForeign);
}

TEST_CASE("gtoken's statement among others: replaced in place, separators kept") {
  const std::string doc =
      "{\"Statement\": [\n  "
      "{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"sts:TagSession\"},\n"
      "  "
      "{\"Sid\":\"GtokenManagedGoogle\",\"Effect\":\"Allow\",\"Principal\":{\"Federated\":"
      "\"accounts.google.com\"},\"Action\":\"sts:AssumeRoleWithWebIdentity\"},\n"
      "  "
      "{\"Sid\":\"B\",\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"arn:aws:iam::1:root\"},"
      "\"Action\":\"*\"}\n]}";
  const auto plan = plan_trust_statements(doc, {google_grant("111", kAudience)});
  CHECK(plan.outcome == Outcome::Update);  // the hand-edited statement is rewritten
  const auto parsed = json::parse(plan.document);
  REQUIRE(parsed["Statement"].size() == 3);
  CHECK(parsed["Statement"][1]["Sid"] == "GtokenManagedGoogle");
  CHECK(plan.document.rfind("{\"Statement\": [\n  {\"Sid\":\"A\"", 0) == 0);
  CHECK(plan.document.find("},\n  "
                           "{\"Sid\":\"B\",\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"arn:aws:"
                           "iam::1:root\"},\"Action\":\"*\"}\n]}") != std::string::npos);
  CHECK_FALSE(admits(doc, google_token("111")) == false);  // it was wide open
  CHECK_FALSE(admits(plan.document, google_token("222")));

  // Removing the middle one keeps A and B with their own separator.
  const auto removed = plan_trust_statements(plan.document, {});
  CHECK(removed.document ==
        "{\"Statement\": [\n  "
        "{\"Sid\":\"A\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"sts:TagSession\"},\n"
        "  "
        "{\"Sid\":\"B\",\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"arn:aws:iam::1:root\"},"
        "\"Action\":\"*\"}\n]}");
}

TEST_CASE("an owned statement in another spelling is left as it is; duplicates go") {
  const std::string spelled =
      R"({"Statement":[{"Condition":{"StringEquals":{"accounts.google.com:oaud":"a","accounts.google.com:aud":"111","accounts.google.com:sub":"111"}},)"
      R"("Action":"sts:AssumeRoleWithWebIdentity","Principal":{"Federated":"accounts.google.com"},"Effect":"Allow","Sid":"GtokenManagedGoogle"}]})";
  CHECK(plan_trust_statements(spelled, {google_grant("111", "a")}).outcome == Outcome::Unchanged);
  const std::string twice = R"({"Statement":[)" + json::parse(spelled)["Statement"][0].dump() +
                            "," + json::parse(spelled)["Statement"][0].dump() + "]}";
  const auto plan = plan_trust_statements(twice, {google_grant("111", "a")});
  CHECK(plan.outcome == Outcome::Update);
  CHECK(json::parse(plan.document)["Statement"].size() == 1);
  CHECK(plan.sids == std::vector<std::string>{"GtokenManagedGoogle"});
}

TEST_CASE("a lone Statement object: kept as written inside a list") {
  const std::string lone =
      "{\"Version\":\"2012-10-17\",\"Statement\":{ \"Effect\" : \"Allow\", "
      "\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:AssumeRole\" }}";
  const auto plan = plan_trust_statements(lone, {google_grant("111", kAudience)});
  CHECK(plan.document.rfind("{\"Version\":\"2012-10-17\",\"Statement\":[{ \"Effect\" : \"Allow\", "
                            "\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:"
                            "AssumeRole\" },{\"Sid\":\"GtokenManagedGoogle\"",
                            0) == 0);
  CHECK(admits(plan.document, google_token("111")));
  // gtoken's own lone statement is replaced as a lone statement.
  const std::string ours =
      R"({"Statement":{"Sid":"GtokenManagedGoogle","Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity"}})";
  const auto replaced = plan_trust_statements(ours, {google_grant("111", kAudience)});
  CHECK(replaced.document.rfind("{\"Statement\":{\"Sid\":\"GtokenManagedGoogle\"", 0) == 0);
  CHECK_FALSE(admits(replaced.document, google_token("222")));
}

TEST_CASE("when gtoken's statements were the only ones, one that admits nothing is left") {
  const auto made = plan_trust_statements(R"({"Version":"2012-10-17","Statement":[]})",
                                          {google_grant("111", kAudience)});
  CHECK(
      made.document ==
      R"({"Version":"2012-10-17","Statement":[{"Sid":"GtokenManagedGoogle","Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"accounts.google.com:sub":"111","accounts.google.com:aud":"111","accounts.google.com:oaud":"gtoken/sts/assume-role-with-web-identity"}}}]})");
  const auto emptied = plan_trust_statements(made.document, {});
  CHECK(emptied.outcome == Outcome::Update);
  CHECK(emptied.placeholder);
  CHECK(emptied.sids == std::vector<std::string>{"GtokenManagedNone"});
  CHECK(
      emptied.document ==
      R"({"Version":"2012-10-17","Statement":[{"Sid":"GtokenManagedNone","Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"Null":{"accounts.google.com:sub":"true"}}}]})");
  CHECK_FALSE(admits(emptied.document, google_token("111")));
  CHECK(evaluate_web_identity(emptied.document, google_token("111")).outcome ==
        TrustOutcome::ConditionFails);
  CHECK(plan_trust_statements(emptied.document, {}).outcome == Outcome::Unchanged);
  // A new binding takes the placeholder's place.
  const auto back = plan_trust_statements(emptied.document, {google_grant("111", kAudience)});
  CHECK(back.document == made.document);
  // Beside a foreign statement no placeholder is needed.
  const auto beside = plan_trust_statements(kForeign, {});
  CHECK(beside.outcome == Outcome::Unchanged);
  CHECK_FALSE(beside.placeholder);
}

TEST_CASE("TrustPolicyTooLarge: reported with the numbers, nothing written") {
  std::vector<TrustGrant> grants;
  for (int i = 0; i < 60; ++i) {
    grants.push_back(kubernetes_grant(kProviderArn, "team-" + std::to_string(i), "workload",
                                      "sts.amazonaws.com"));
  }
  const auto plan = plan_trust_statements(kForeign, grants);
  CHECK(plan.outcome == Outcome::TooLarge);
  CHECK(plan.size > 2048);
  CHECK(plan.limit == 2048);
  CHECK(plan.message() == "the trust policy would be " + std::to_string(plan.size) +
                              " characters (white space not counted), over the limit of 2048");
  // The same fits in an account whose quota was raised.
  const auto raised = plan_trust_statements(kForeign, grants, {.size_limit = 4096});
  CHECK(raised.outcome == Outcome::Update);
  CHECK(raised.size == plan.size);
  CHECK(raised.message().empty());
  // White space in the foreign statement does not count against the limit.
  CHECK(iam_policy_size(kForeign) < kForeign.size() - 60);
}

TEST_CASE("documents and grants that cannot be planned are refused") {
  CHECK_THROWS_AS(plan_trust_statements("{\"Statement\":", {}), TrustPolicyError);
  CHECK_THROWS_AS(plan_trust_statements(R"({"Version":"2012-10-17"})", {}), TrustPolicyError);
  CHECK_THROWS_AS(plan_trust_statements(kForeign, {{"example.com", "1", "a"}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(plan_trust_statements(kForeign, {google_grant("", kAudience)}),
                  std::invalid_argument);
  CHECK_THROWS_AS(plan_trust_statements(kForeign, {google_grant("1", "")}), std::invalid_argument);
  // IAM takes U+0020..U+00FF (and tab, line feed, carriage return) only.
  CHECK_THROWS_AS(plan_trust_statements(kForeign, {google_grant("1", "aud\xe4\xb8\xad")}),
                  std::invalid_argument);
  CHECK_THROWS_AS(plan_trust_statements(kForeign, {google_grant("1", "a\tb")}),
                  std::invalid_argument);
  CHECK(plan_trust_statements(kForeign, {google_grant("1", "caf\xc3\xa9")}).outcome ==
        Outcome::Update);
}
