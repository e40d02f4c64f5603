// Trust policy evaluation for sts:AssumeRoleWithWebIdentity: the cases of
// issue #12 on what status.awsTrustPolicy renders (operator/policy), and
// the IAM semantics behind them.
#include <doctest/doctest.h>

#include <string>

#include "aws/trust_evaluation.hpp"
#include "operator/policy.hpp"

using namespace gtoken::aws;
using json = nlohmann::json;
using Why = ConditionFailure::Why;

namespace {

const std::string kGsaId = "112233445566778899001";
const std::string kAudience = "gtoken/sts/assume-role-with-web-identity";
const std::string kRoleArn = "arn:aws:iam::123456789012:role/uploader";
const std::string kIssuer = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c";

// A Google ID token of a GSA, as the metadata server mints it.
json google_claims(const std::string& unique_id = kGsaId, const std::string& aud = kAudience) {
  return {{"iss", "https://accounts.google.com"},
          {"aud", aud},
          {"azp", unique_id},
          {"sub", unique_id},
          {"email", "uploader@p.iam.gserviceaccount.com"},
          {"email_verified", true},
          {"iat", 1},
          {"exp", 3601}};
}

WebIdentityRequest google(const json& claims = google_claims()) {
  return web_identity_request(kGoogleProvider, claims);
}

std::string rendered_google() {
  return gtoken::aws_trust_policy(kGsaId, kAudience).dump(2);
}

std::string provider_arn() {
  return gtoken::oidc_provider_arn(kIssuer, kRoleArn);
}

WebIdentityRequest kubernetes(const std::string& sub = "system:serviceaccount:jobs:uploader",
                              const std::string& aud = "sts.amazonaws.com") {
  return web_identity_request(provider_arn(),
                              {{"iss", kIssuer}, {"sub", sub}, {"aud", json::array({aud})}});
}

std::string rendered_kubernetes() {
  return gtoken::aws_oidc_trust_policy(provider_arn(), gtoken::oidc_provider_path(kIssuer), "jobs",
                                       "uploader", "sts.amazonaws.com")
      .dump();
}

// One Allow for Google tokens with `condition` (a JSON object text).
std::string google_policy(const std::string& condition,
                          const std::string& action = "\"sts:AssumeRoleWithWebIdentity\"") {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
         R"("Principal":{"Federated":"accounts.google.com"},"Action":)" +
         action + R"(,"Condition":)" + condition + "}]}";
}

TrustVerdict eval(const std::string& policy, const WebIdentityRequest& r = google()) {
  return evaluate_web_identity(policy, r);
}

}  // namespace

TEST_CASE("the request: Google's and an OIDC provider's condition keys") {
  const auto g = google();
  CHECK(g.key_prefix == "accounts.google.com");
  CHECK(g.context.at("accounts.google.com:sub") == std::vector<std::string>{kGsaId});
  CHECK(g.context.at("accounts.google.com:aud") == std::vector<std::string>{kGsaId});  // azp
  CHECK(g.context.at("accounts.google.com:oaud") == std::vector<std::string>{kAudience});
  CHECK_FALSE(g.context.count("accounts.google.com:email"));
  // Without azp, :aud is the token's aud.
  json no_azp = google_claims();
  no_azp.erase("azp");
  CHECK(google(no_azp).context.at("accounts.google.com:aud") ==
        std::vector<std::string>{kAudience});

  const auto k = kubernetes();
  const std::string path = "container.googleapis.com/v1/projects/p/locations/l/clusters/c";
  CHECK(k.key_prefix == path);
  CHECK(k.context.at(path + ":sub") ==
        std::vector<std::string>{"system:serviceaccount:jobs:uploader"});
  CHECK(k.context.at(path + ":aud") == std::vector<std::string>{"sts.amazonaws.com"});
  CHECK(oidc_provider_key_prefix("arn:aws-cn:iam::123456789012:oidc-provider/h/p") == "h/p");
  CHECK(oidc_provider_key_prefix("arn:aws:iam::123456789012:role/x").empty());
  CHECK(oidc_provider_key_prefix("arn:aws:iam:::oidc-provider/h").empty());
  CHECK_THROWS_AS(web_identity_request("example.com", google_claims()), std::invalid_argument);
  CHECK_THROWS_AS(web_identity_request(kGoogleProvider, json::array()), std::invalid_argument);
}

TEST_CASE("what status.awsTrustPolicy renders lets the binding's tokens in") {
  const auto g = eval(rendered_google());
  CHECK(g.allowed());
  CHECK(g.statement == 0);
  CHECK(g.message() == "statement 0 allows sts:AssumeRoleWithWebIdentity for accounts.google.com");
  CHECK_FALSE(admits_other_audience(parse_trust_policy(rendered_google()), google()));

  const auto k = eval(rendered_kubernetes(), kubernetes());
  CHECK(k.allowed());
  CHECK_FALSE(admits_other_audience(parse_trust_policy(rendered_kubernetes()), kubernetes()));
}

TEST_CASE("issue #12: the wrong uniqueId fails on sub and aud") {
  const auto v = eval(rendered_google(), google(google_claims("998877665544332211000")));
  CHECK(v.outcome == TrustOutcome::ConditionFails);
  REQUIRE(v.failures.size() == 2);
  CHECK(v.failures[0].key == "accounts.google.com:aud");
  CHECK(v.failures[1].claim == "sub");
  CHECK(v.failures[1].why == Why::Mismatch);
  CHECK(v.failures[1].actual == std::vector<std::string>{"998877665544332211000"});
  CHECK(v.failures[1].expected == std::vector<std::string>{kGsaId});
  CHECK(v.message() ==
        "statement 0: StringEquals accounts.google.com:aud: the token has "
        "[\"998877665544332211000\"], the policy wants [\"" +
            kGsaId +
            "\"]; StringEquals accounts.google.com:sub: the token has [\"998877665544332211000\"], "
            "the policy wants [\"" +
            kGsaId + "\"]");
}

TEST_CASE("issue #12: the old GSA after a re-creation (same email, new uniqueId)") {
  // The policy was pasted for the GSA before it was deleted and made again.
  const std::string old_id = "100000000000000000001";
  const std::string policy = gtoken::aws_trust_policy(old_id, kAudience).dump();
  const auto v = eval(policy);
  CHECK(v.outcome == TrustOutcome::ConditionFails);
  REQUIRE(v.failures.size() == 2);
  CHECK(v.failures[1].claim == "sub");
  // The old GSA's tokens would have passed: only the id differs.
  CHECK(eval(policy, google(google_claims(old_id))).allowed());
}

TEST_CASE("issue #12: a typo in the audience fails on oaud alone") {
  const std::string policy =
      gtoken::aws_trust_policy(kGsaId, "gtoken/sts/assume-role-with-web-identiy").dump();
  const auto v = eval(policy);
  CHECK(v.outcome == TrustOutcome::ConditionFails);
  REQUIRE(v.failures.size() == 1);
  CHECK(v.failures[0].claim == "oaud");
  CHECK(v.failures[0].actual == std::vector<std::string>{kAudience});
}

TEST_CASE("issue #12: a policy without oaud lets the token in, and any other audience too") {
  const std::string policy =
      google_policy(R"({"StringEquals":{"accounts.google.com:sub":")" + kGsaId + R"("}})");
  CHECK(eval(policy).allowed());
  CHECK(admits_other_audience(parse_trust_policy(policy), google()));
  CHECK(eval(policy, google(google_claims(kGsaId, "https://other.example.com"))).allowed());
}

TEST_CASE("issue #12: an explicit Deny wins over a matching Allow") {
  json doc = json::parse(rendered_google());
  doc["Statement"].push_back(json::parse(
      R"({"Sid":"NoUploader","Effect":"Deny","Principal":{"Federated":"accounts.google.com"},)"
      R"("Action":"sts:*","Condition":{"StringLike":{"accounts.google.com:sub":"1122*"}}})"));
  const std::string policy = doc.dump();
  const auto v = eval(policy);
  CHECK(v.outcome == TrustOutcome::ExplicitDeny);
  CHECK(v.statement == 1);
  CHECK(v.sid == "NoUploader");
  CHECK(v.message() == "statement 1 (Sid NoUploader) denies accounts.google.com explicitly");
  // The Deny's condition does not hold for another GSA: no Deny, and then
  // that GSA fails the Allow's conditions.
  CHECK(eval(policy, google(google_claims("9"))).outcome == TrustOutcome::ConditionFails);
}

TEST_CASE("no statement for the provider is TrustPolicyMissing, not a mismatch") {
  const std::string ec2 =
      R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}})";
  const auto v = eval(ec2);
  CHECK(v.outcome == TrustOutcome::NoStatement);
  CHECK(v.message() ==
        "no Allow statement names Federated accounts.google.com for sts:AssumeRoleWithWebIdentity");
  // The Kubernetes statement does not name Google, and the other way round.
  CHECK(eval(rendered_kubernetes()).outcome == TrustOutcome::NoStatement);
  CHECK(eval(rendered_google(), kubernetes()).outcome == TrustOutcome::NoStatement);
  // Google named, but for another action only.
  CHECK(eval(google_policy("{}", "\"sts:AssumeRole\"")).outcome == TrustOutcome::NoStatement);
  // Only a Deny for the provider.
  CHECK(
      eval(
          R"({"Statement":[{"Effect":"Deny","Principal":{"Federated":"accounts.google.com"},"Action":"sts:*","Condition":{"StringEquals":{"accounts.google.com:sub":"0"}}}]})")
          .outcome == TrustOutcome::NoStatement);
}

TEST_CASE("Kubernetes: another namespace's ServiceAccount fails on sub") {
  const auto v = eval(rendered_kubernetes(), kubernetes("system:serviceaccount:other:uploader"));
  CHECK(v.outcome == TrustOutcome::ConditionFails);
  REQUIRE(v.failures.size() == 1);
  CHECK(v.failures[0].claim == "sub");
  const auto a =
      eval(rendered_kubernetes(), kubernetes("system:serviceaccount:jobs:uploader", "x"));
  REQUIRE(a.failures.size() == 1);
  CHECK(a.failures[0].claim == "aud");
}

TEST_CASE("Action: wildcards, lists, case, NotAction") {
  CHECK(eval(google_policy("{}", "\"sts:*\"")).allowed());
  CHECK(eval(google_policy("{}", "\"sts:AssumeRoleWith*\"")).allowed());
  CHECK(eval(google_policy("{}", "\"*\"")).allowed());
  CHECK(eval(google_policy("{}", "\"STS:assumerolewithwebidentity\"")).allowed());
  CHECK(
      eval(google_policy("{}", R"(["sts:TagSession","sts:AssumeRoleWithWebIdentity"])")).allowed());
  CHECK(eval(google_policy("{}", "\"sts:AssumeRoleWithSAML\"")).outcome ==
        TrustOutcome::NoStatement);
  const std::string not_action =
      R"({"Statement":[{"Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"NotAction":"sts:AssumeRole"}]})";
  CHECK(eval(not_action).allowed());
  const std::string not_ours =
      R"({"Statement":[{"Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"NotAction":"sts:AssumeRoleWith*"}]})";
  CHECK(eval(not_ours).outcome == TrustOutcome::NoStatement);
}

TEST_CASE("Principal: a list, \"*\", AWS \"*\", NotPrincipal") {
  auto with_principal = [](const std::string& p) {
    return R"({"Statement":[{"Effect":"Allow",)" + p +
           R"(,"Action":"sts:AssumeRoleWithWebIdentity"}]})";
  };
  CHECK(
      eval(
          with_principal(
              R"("Principal":{"Federated":["cognito-identity.amazonaws.com","accounts.google.com"]})"))
          .allowed());
  CHECK(eval(with_principal(R"("Principal":"*")")).allowed());
  CHECK(eval(with_principal(R"("Principal":{"AWS":"*"})")).allowed());
  CHECK(eval(with_principal(R"("Principal":{"Federated":"Accounts.Google.com"})")).outcome ==
        TrustOutcome::NoStatement);
  CHECK(eval(with_principal(R"("NotPrincipal":{"Federated":"graph.facebook.com"})")).allowed());
  CHECK(eval(with_principal(R"("NotPrincipal":{"Federated":"accounts.google.com"})")).outcome ==
        TrustOutcome::NoStatement);
}

TEST_CASE("conditions: keys AND, values OR, key names case-insensitive") {
  const std::string sub = R"("accounts.google.com:sub")";
  CHECK(eval(google_policy(R"({"StringEquals":{)" + sub + R"(:["1",")" + kGsaId + R"("]}})"))
            .allowed());
  CHECK(eval(google_policy(R"({"StringEquals":{"ACCOUNTS.GOOGLE.COM:SUB":")" + kGsaId + R"("}})"))
            .allowed());
  // Both keys must hold; one failing is named.
  const auto v =
      eval(google_policy(R"({"StringEquals":{)" + sub + R"(:")" + kGsaId +
                         R"("},"StringLike":{"accounts.google.com:oaud":"sts.amazonaws.com"}})"));
  CHECK(v.outcome == TrustOutcome::ConditionFails);
  REQUIRE(v.failures.size() == 1);
  CHECK(v.failures[0].op == "StringLike");
  CHECK(v.failures[0].claim == "oaud");
  // Values compare case-sensitively with StringEquals, not with ...IgnoreCase.
  CHECK_FALSE(
      eval(
          google_policy(
              R"({"StringEquals":{"accounts.google.com:oaud":"GTOKEN/sts/assume-role-with-web-identity"}})"))
          .allowed());
  CHECK(
      eval(
          google_policy(
              R"({"StringEqualsIgnoreCase":{"accounts.google.com:oaud":"GTOKEN/sts/assume-role-with-web-identity"}})"))
          .allowed());
  CHECK(eval(google_policy(R"({"StringLike":{"accounts.google.com:oaud":"gtoken/sts/*"}})"))
            .allowed());
  CHECK(eval(google_policy(R"({"StringLike":{"accounts.google.com:sub":"11223344556677889900?"}})"))
            .allowed());
  CHECK_FALSE(
      eval(google_policy(R"({"StringLike":{"accounts.google.com:sub":"1122334455667788990?"}})"))
          .allowed());
}

TEST_CASE("conditions: negated operators, absent keys, IfExists, Null") {
  CHECK(eval(google_policy(R"({"StringNotEquals":{"accounts.google.com:sub":"1"}})")).allowed());
  CHECK_FALSE(
      eval(google_policy(R"({"StringNotEquals":{"accounts.google.com:sub":")" + kGsaId + R"("}})"))
          .allowed());
  CHECK(eval(google_policy(R"({"StringNotLike":{"accounts.google.com:oaud":"https://*"}})"))
            .allowed());
  // An absent key: a plain operator fails and names the claim ...
  const auto email = eval(google_policy(
      R"({"StringEquals":{"accounts.google.com:email":"uploader@p.iam.gserviceaccount.com"}})"));
  CHECK(email.outcome == TrustOutcome::ConditionFails);
  REQUIRE(email.failures.size() == 1);
  CHECK(email.failures[0].why == Why::KeyAbsent);
  CHECK(email.failures[0].claim == "email");
  CHECK(email.message() ==
        "statement 0: StringEquals accounts.google.com:email: the token has no email, the policy "
        "wants [\"uploader@p.iam.gserviceaccount.com\"]");
  // ... a negated one and IfExists hold.
  CHECK(eval(google_policy(R"({"StringNotEquals":{"accounts.google.com:email":"x"}})")).allowed());
  CHECK(eval(google_policy(R"({"StringEqualsIfExists":{"accounts.google.com:email":"x"}})"))
            .allowed());
  CHECK_FALSE(
      eval(google_policy(R"({"StringEqualsIfExists":{"accounts.google.com:sub":"x"}})")).allowed());
  CHECK(
      eval(
          google_policy(
              R"({"Null":{"accounts.google.com:email":"true","accounts.google.com:sub":"false"}})"))
          .allowed());
  const auto null = eval(google_policy(R"({"Null":{"accounts.google.com:sub":"true"}})"));
  CHECK(null.outcome == TrustOutcome::ConditionFails);
  CHECK(null.failures[0].why == Why::Mismatch);
}

TEST_CASE("conditions: ForAnyValue and ForAllValues on a multi-valued aud") {
  json claims = google_claims();
  claims.erase("azp");
  claims["aud"] = json::array({kAudience, "https://other.example.com"});
  const auto r = google(claims);
  const std::string oaud = R"("accounts.google.com:oaud")";
  CHECK(eval(google_policy(R"({"ForAnyValue:StringEquals":{)" + oaud + R"(:")" + kAudience +
                           R"("}})"),
             r)
            .allowed());
  CHECK_FALSE(eval(google_policy(R"({"ForAllValues:StringEquals":{)" + oaud + R"(:")" + kAudience +
                                 R"("}})"),
                   r)
                  .allowed());
  CHECK(eval(google_policy(R"({"ForAllValues:StringLike":{)" + oaud +
                           R"(:["gtoken/*","https://*"]}})"),
             r)
            .allowed());
  CHECK(eval(google_policy(R"({"ForAnyValue:StringNotEquals":{)" + oaud + R"(:")" + kAudience +
                           R"("}})"),
             r)
            .allowed());
  CHECK_FALSE(
      eval(google_policy(R"({"ForAllValues:StringNotLike":{)" + oaud + R"(:"https://*"}})"), r)
          .allowed());
  // A plain operator on a multi-valued key: some value matches.
  CHECK(eval(google_policy(R"({"StringEquals":{)" + oaud + R"(:"https://other.example.com"}})"), r)
            .allowed());
  // Absent key: ForAllValues holds (vacuously), ForAnyValue fails.
  CHECK(eval(google_policy(R"({"ForAllValues:StringEquals":{"accounts.google.com:email":"x"}})"))
            .allowed());
  CHECK_FALSE(
      eval(google_policy(R"({"ForAnyValue:StringEquals":{"accounts.google.com:email":"x"}})"))
          .allowed());
}

TEST_CASE("unsupported operators fail closed: an Allow does not allow, a Deny denies") {
  const auto allow = eval(google_policy(R"({"NumericLessThan":{"accounts.google.com:sub":"5"}})"));
  CHECK(allow.outcome == TrustOutcome::ConditionFails);
  REQUIRE(allow.failures.size() == 1);
  CHECK(allow.failures[0].why == Why::UnsupportedOperator);
  CHECK(allow.message() ==
        "statement 0: condition operator NumericLessThan on "
        "accounts.google.com:sub is not evaluated by gtoken");
  // Misspelled and misplaced forms are unknown too.
  CHECK_FALSE(
      eval(google_policy(R"({"stringequals":{"accounts.google.com:sub":")" + kGsaId + R"("}})"))
          .allowed());
  CHECK_FALSE(
      eval(google_policy(R"({"NullIfExists":{"accounts.google.com:email":"true"}})")).allowed());

  const std::string deny =
      R"({"Statement":[{"Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity"},)"
      R"({"Sid":"Off","Effect":"Deny","Principal":"*","Action":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}}]})";
  const auto d = eval(deny);
  CHECK(d.outcome == TrustOutcome::ExplicitDeny);
  CHECK(d.sid == "Off");
  CHECK(d.message() ==
        "statement 1 (Sid Off) denies accounts.google.com explicitly; condition "
        "operator DateGreaterThan on aws:CurrentTime is not evaluated by gtoken, so "
        "it counts as matching");
  // A Deny whose supported condition does not hold does not apply, even
  // beside an unsupported one.
  const std::string partial =
      R"({"Statement":[{"Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity"},)"
      R"({"Effect":"Deny","Principal":"*","Action":"*","Condition":{"Bool":{"aws:x":"true"},"StringEquals":{"accounts.google.com:sub":"0"}}}]})";
  CHECK(eval(partial).allowed());
}

TEST_CASE("the closest Allow is the one reported") {
  const std::string policy =
      R"({"Statement":[)"
      R"({"Sid":"Far","Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"accounts.google.com:sub":"1","accounts.google.com:oaud":"x"}}},)"
      R"({"Sid":"Near","Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"accounts.google.com:sub":")" +
      kGsaId + R"(","accounts.google.com:oaud":"x"}}}]})";
  const auto v = eval(policy);
  CHECK(v.outcome == TrustOutcome::ConditionFails);
  CHECK(v.sid == "Near");
  CHECK(v.statement == 1);
  REQUIRE(v.failures.size() == 1);
  CHECK(v.failures[0].claim == "oaud");
  CHECK(std::string(to_string(v.outcome)) == "ConditionFails");
}

TEST_CASE("a document that cannot be read throws its typed error") {
  CHECK_THROWS_AS(eval("{\"Statement\": "), TrustPolicyError);
  CHECK_THROWS_AS(eval("{\"Version\":\"2012-10-17\"}"), TrustPolicyError);
}
