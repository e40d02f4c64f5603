#include <doctest/doctest.h>

#include "operator/policy.hpp"
#include "plugin/trust_eval.hpp"

using gtoken::plugin::evaluate_trust_policy;
using gtoken::plugin::web_identity_context;
using nlohmann::json;

namespace {

const json kGoogleClaims = {{"iss", "https://accounts.google.com"},
                            {"aud", "gtoken/sts/assume-role-with-web-identity"},
                            {"azp", "111"},
                            {"sub", "111"},
                            {"email", "up@p.iam.gserviceaccount.com"}};

json google_policy(const json& string_equals) {
  return {{"Version", "2012-10-17"},
          {"Statement",
           {{{"Effect", "Allow"},
             {"Principal", {{"Federated", "accounts.google.com"}}},
             {"Action", "sts:AssumeRoleWithWebIdentity"},
             {"Condition", {{"StringEquals", string_equals}}}}}}};
}

}  // namespace

TEST_CASE("Google claims map to accounts.google.com keys: aud is azp, oaud is aud") {
  auto ctx = web_identity_context(kGoogleClaims);
  CHECK(ctx.provider == "accounts.google.com");
  CHECK(ctx.keys["accounts.google.com:sub"] == std::vector<std::string>{"111"});
  CHECK(ctx.keys["accounts.google.com:aud"] == std::vector<std::string>{"111"});
  CHECK(ctx.keys["accounts.google.com:oaud"] ==
        std::vector<std::string>{"gtoken/sts/assume-role-with-web-identity"});
  json no_azp = kGoogleClaims;
  no_azp.erase("azp");
  CHECK(web_identity_context(no_azp).keys["accounts.google.com:aud"] ==
        std::vector<std::string>{"gtoken/sts/assume-role-with-web-identity"});
}

TEST_CASE("the operator's own trust policy accepts the GSA's token for its audience") {
  const json policy = gtoken::aws_trust_policy("111", "gtoken/sts/assume-role-with-web-identity");
  auto v = evaluate_trust_policy(policy, kGoogleClaims);
  CHECK(v.allowed);
  CHECK(v.explanation.find("statement 1") != std::string::npos);
}

TEST_CASE("a wrong sub or audience is named with both values") {
  json other_sub = kGoogleClaims;
  other_sub["sub"] = other_sub["azp"] = "222";
  auto v = evaluate_trust_policy(
      gtoken::aws_trust_policy("111", "gtoken/sts/assume-role-with-web-identity"), other_sub);
  CHECK_FALSE(v.allowed);
  // aud (the azp) and sub both pin the GSA: the first key checked is named.
  CHECK(v.explanation.find("accounts.google.com:aud is \"222\", the policy's StringEquals wants "
                           "\"111\"") != std::string::npos);
  other_sub.erase("azp");
  other_sub["aud"] = "gtoken/sts/assume-role-with-web-identity";
  json sub_only = gtoken::aws_trust_policy("111", "gtoken/sts/assume-role-with-web-identity");
  sub_only["Statement"][0]["Condition"]["StringEquals"].erase("accounts.google.com:aud");
  v = evaluate_trust_policy(sub_only, other_sub);
  CHECK(v.explanation.find("accounts.google.com:sub is \"222\"") != std::string::npos);

  json other_aud = kGoogleClaims;
  other_aud["aud"] = "another-service";
  v = evaluate_trust_policy(
      gtoken::aws_trust_policy("111", "gtoken/sts/assume-role-with-web-identity"), other_aud);
  CHECK_FALSE(v.allowed);
  CHECK(v.explanation.find("oaud is \"another-service\"") != std::string::npos);
}

TEST_CASE("evaluated, not compared: StringLike, arrays, key case and a second statement") {
  auto v = evaluate_trust_policy(
      {{"Statement",
        {{{"Effect", "Allow"},
          {"Principal", {{"Federated", "accounts.google.com"}}},
          {"Action", "sts:AssumeRoleWithWebIdentity"},
          {"Condition", {{"StringEquals", {{"accounts.google.com:sub", "999"}}}}}},
         {{"Effect", "Allow"},
          {"Principal", {{"Federated", {"cognito-identity.amazonaws.com", "accounts.google.com"}}}},
          {"Action", {"sts:AssumeRole*"}},
          {"Condition",
           {{"StringLike", {{"Accounts.Google.Com:OAUD", "gtoken/*"}}},
            {"StringEquals", {{"accounts.google.com:sub", {"555", "111"}}}}}}}}}},
      kGoogleClaims);
  CHECK(v.allowed);
  CHECK(v.explanation.find("statement 2") != std::string::npos);
}

TEST_CASE("an explicit Deny wins, another principal or action does not allow") {
  json policy = gtoken::aws_trust_policy("111", "gtoken/sts/assume-role-with-web-identity");
  json deny = {
      {"Effect", "Deny"},
      {"Principal", {{"Federated", "accounts.google.com"}}},
      {"Action", "sts:*"},
      {"Condition", {{"StringEquals", {{"accounts.google.com:email", kGoogleClaims["email"]}}}}}};
  policy["Statement"].push_back(deny);
  auto v = evaluate_trust_policy(policy, kGoogleClaims);
  CHECK_FALSE(v.allowed);
  CHECK(v.explanation.find("denies") != std::string::npos);

  json aws = gtoken::aws_trust_policy("111", "gtoken/sts/assume-role-with-web-identity");
  aws["Statement"][0]["Principal"] = {{"AWS", "arn:aws:iam::123456789012:root"}};
  v = evaluate_trust_policy(aws, kGoogleClaims);
  CHECK_FALSE(v.allowed);
  CHECK(v.explanation.find("another principal") != std::string::npos);

  json action = gtoken::aws_trust_policy("111", "gtoken/sts/assume-role-with-web-identity");
  action["Statement"][0]["Action"] = "sts:AssumeRole";
  CHECK_FALSE(evaluate_trust_policy(action, kGoogleClaims).allowed);
}

TEST_CASE("negated operators, IfExists and Null") {
  auto with = [](const json& cond) {
    return json{{"Statement",
                 {{{"Effect", "Allow"},
                   {"Principal", {{"Federated", "accounts.google.com"}}},
                   {"Action", "sts:AssumeRoleWithWebIdentity"},
                   {"Condition", cond}}}}};
  };
  CHECK(evaluate_trust_policy(with({{"StringNotEquals", {{"accounts.google.com:sub", "222"}}}}),
                              kGoogleClaims)
            .allowed);
  CHECK_FALSE(evaluate_trust_policy(
                  with({{"StringNotEquals", {{"accounts.google.com:sub", "111"}}}}), kGoogleClaims)
                  .allowed);
  json no_email = kGoogleClaims;
  no_email.erase("email");
  CHECK(evaluate_trust_policy(
            with({{"StringEqualsIfExists", {{"accounts.google.com:email", "x"}}}}), no_email)
            .allowed);
  auto v = evaluate_trust_policy(with({{"StringEquals", {{"accounts.google.com:email", "x"}}}}),
                                 no_email);
  CHECK_FALSE(v.allowed);
  CHECK(v.explanation.find("absent") != std::string::npos);
  CHECK(evaluate_trust_policy(with({{"Null", {{"accounts.google.com:email", "true"}}}}), no_email)
            .allowed);
  v = evaluate_trust_policy(with({{"NumericLessThan", {{"accounts.google.com:sub", "5"}}}}),
                            kGoogleClaims);
  CHECK_FALSE(v.allowed);
  CHECK(v.explanation.find("NumericLessThan") != std::string::npos);
}

TEST_CASE("Kubernetes tokens: the oidc-provider ARN and ISSUER:sub/aud") {
  const json claims = {
      {"iss", "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c"},
      {"aud", {"sts.amazonaws.com"}},
      {"sub", "system:serviceaccount:jobs:uploader"}};
  const std::string path = "container.googleapis.com/v1/projects/p/locations/l/clusters/c";
  const json policy =
      gtoken::aws_oidc_trust_policy("arn:aws:iam::123456789012:oidc-provider/" + path, path, "jobs",
                                    "uploader", "sts.amazonaws.com");
  CHECK(evaluate_trust_policy(policy, claims).allowed);
  json other_ns = claims;
  other_ns["sub"] = "system:serviceaccount:evil:uploader";
  auto v = evaluate_trust_policy(policy, other_ns);
  CHECK_FALSE(v.allowed);
  CHECK(v.explanation.find(":sub is \"system:serviceaccount:evil:uploader\"") != std::string::npos);
  json other_issuer = claims;
  other_issuer["iss"] = "https://elsewhere.example";
  CHECK(evaluate_trust_policy(policy, other_issuer).explanation.find("another principal") !=
        std::string::npos);
}

TEST_CASE("unusable input is refused with a reason") {
  CHECK_FALSE(evaluate_trust_policy(json::object(), kGoogleClaims).allowed);
  CHECK(evaluate_trust_policy(google_policy({{"accounts.google.com:sub", "111"}}), json::object())
            .explanation.find("no iss") != std::string::npos);
  CHECK(evaluate_trust_policy(google_policy({{"accounts.google.com:sub", "111"}}), kGoogleClaims)
            .allowed);
}
