// The tenancy policy decides which bindings may act: deny by default, a
// union of policies, two refusals no policy lifts, exclusivity.
#include <doctest/doctest.h>

#include "kube/label_selector.hpp"
#include "tenancy/policy.hpp"

using nlohmann::json;
using namespace gtoken::tenancy;

namespace {

const Settings kSettings{"my-project", "gtoken-operator@my-project.iam.gserviceaccount.com",
                         "sts.amazonaws.com"};

Policy policy(const json& spec, const std::string& name = "p") {
  std::string error;
  auto p = parse_policy({{"metadata", {{"name", name}}}, {"spec", spec}}, error);
  REQUIRE_MESSAGE(p, error);
  return *p;
}

Request req(const std::string& ns, const std::string& gsa = "uploader@my-project.iam.gserviceaccount.com",
            const std::string& role = "arn:aws:iam::123456789012:role/up",
            const std::string& aud = "sts.amazonaws.com") {
  return Request{ns, "b", gsa, role, aud, "2026-01-01T00:00:00Z"};
}

const json kJobsProject = {{"namespaces", {{"names", {"jobs"}}}},
                           {"gcpServiceAccounts", {"*@my-project.iam.gserviceaccount.com"}},
                           {"awsRoles", {"123456789012"}}};

}  // namespace

TEST_CASE("no policy allows nothing") {
  auto v = evaluate(req("jobs"), {}, json(), kSettings);
  CHECK_FALSE(v.allowed);
  CHECK(v.denial == Denial::Namespace);
  CHECK(v.message.find("namespace \"jobs\"") != std::string::npos);
}

TEST_CASE("single tenant: namespace jobs may bind GSAs of my-project") {
  std::vector<Policy> ps{policy(kJobsProject, "jobs")};
  auto v = evaluate(req("jobs"), ps, json(), kSettings);
  CHECK(v.allowed);
  CHECK(v.allowed_by == std::vector<std::string>{"jobs"});

  SUBCASE("another namespace is refused, naming the namespace") {
    auto e = evaluate(req("evil"), ps, json(), kSettings);
    CHECK_FALSE(e.allowed);
    CHECK(e.denial == Denial::Namespace);
    CHECK(e.message.find("\"evil\"") != std::string::npos);
  }
  SUBCASE("a role of another account is refused, naming the role") {
    auto e = evaluate(req("jobs", "uploader@my-project.iam.gserviceaccount.com",
                          "arn:aws:iam::999999999999:role/up"),
                      ps, json(), kSettings);
    CHECK(e.denial == Denial::AwsRole);
    CHECK(e.message.find("arn:aws:iam::999999999999:role/up") != std::string::npos);
  }
  SUBCASE("an audience not listed is refused; without audiences only the default") {
    auto e = evaluate(req("jobs", "uploader@my-project.iam.gserviceaccount.com",
                          "arn:aws:iam::123456789012:role/up", "other"),
                      ps, json(), kSettings);
    CHECK(e.denial == Denial::Audience);
    CHECK(e.message.find("\"other\"") != std::string::npos);
  }
  SUBCASE("a GSA the policy does not name is refused") {
    std::vector<Policy> one{policy({{"namespaces", {{"names", {"jobs"}}}},
                                    {"gcpServiceAccounts", {"uploader@my-project.iam.gserviceaccount.com"}},
                                    {"awsRoles", {"*"}}})};
    auto e = evaluate(req("jobs", "reader@my-project.iam.gserviceaccount.com"), one, json(), kSettings);
    CHECK(e.denial == Denial::GcpServiceAccount);
  }
}

TEST_CASE("the operator's own GSA is refused whatever a policy says") {
  std::vector<Policy> ps{policy({{"namespaces", {{"selector", json::object()}}},
                                 {"gcpServiceAccounts", {"*"}},
                                 {"awsRoles", {"*"}},
                                 {"audiences", {"*"}}})};
  auto v = evaluate(req("jobs", kSettings.operator_gsa), ps, json::object(), kSettings);
  CHECK_FALSE(v.allowed);
  CHECK(v.denial == Denial::OperatorServiceAccount);
}

TEST_CASE("GSAs outside the Workload Identity project need a policy naming that project") {
  const std::string foreign = "uploader@other-project.iam.gserviceaccount.com";
  std::vector<Policy> wildcard{policy({{"namespaces", {{"names", {"jobs"}}}},
                                       {"gcpServiceAccounts", {"*"}},
                                       {"awsRoles", {"*"}}})};
  auto v = evaluate(req("jobs", foreign), wildcard, json(), kSettings);
  CHECK(v.denial == Denial::Project);
  CHECK(v.message.find("*@other-project.iam.gserviceaccount.com") != std::string::npos);

  std::vector<Policy> named{policy({{"namespaces", {{"names", {"jobs"}}}},
                                    {"gcpServiceAccounts", {"*@other-project.iam.gserviceaccount.com"}},
                                    {"awsRoles", {"*"}}})};
  CHECK(evaluate(req("jobs", foreign), named, json(), kSettings).allowed);
  // "*@*" does not name a project either.
  std::vector<Policy> star_domain{policy({{"namespaces", {{"names", {"jobs"}}}},
                                          {"gcpServiceAccounts", {"*@*.iam.gserviceaccount.com"}},
                                          {"awsRoles", {"*"}}})};
  CHECK(evaluate(req("jobs", foreign), star_domain, json(), kSettings).denial == Denial::Project);
}

TEST_CASE("policies combine as a union, each a conjunction") {
  std::vector<Policy> ps{
      policy({{"namespaces", {{"names", {"a"}}}},
              {"gcpServiceAccounts", {"x-account@my-project.iam.gserviceaccount.com"}},
              {"awsRoles", {"arn:aws:iam::123456789012:role/x"}}},
             "pa"),
      policy({{"namespaces", {{"names", {"b"}}}},
              {"gcpServiceAccounts", {"y-account@my-project.iam.gserviceaccount.com"}},
              {"awsRoles", {"arn:aws:iam::123456789012:role/y"}}},
             "pb")};
  CHECK(evaluate(req("a", "x-account@my-project.iam.gserviceaccount.com",
                     "arn:aws:iam::123456789012:role/x"), ps, json(), kSettings).allowed);
  CHECK(evaluate(req("b", "y-account@my-project.iam.gserviceaccount.com",
                     "arn:aws:iam::123456789012:role/y"), ps, json(), kSettings).allowed);
  // No mixing of one policy's namespace with another's GSA.
  CHECK_FALSE(evaluate(req("a", "y-account@my-project.iam.gserviceaccount.com",
                           "arn:aws:iam::123456789012:role/y"), ps, json(), kSettings).allowed);
}

TEST_CASE("namespace label selectors") {
  std::vector<Policy> ps{policy({{"namespaces", {{"selector", {{"matchLabels", {{"team", "data"}}}}}}},
                                 {"gcpServiceAccounts", {"*@my-project.iam.gserviceaccount.com"}},
                                 {"awsRoles", {"arn:aws:iam::123456789012:role/*"}}})};
  CHECK(evaluate(req("n1"), ps, json{{"team", "data"}}, kSettings).allowed);
  CHECK_FALSE(evaluate(req("n1"), ps, json{{"team", "web"}}, kSettings).allowed);
  // Unknown labels (namespace not cached yet): only names can match.
  CHECK_FALSE(evaluate(req("n1"), ps, json(), kSettings).allowed);
}

TEST_CASE("exclusive: a GSA is bound from one namespace only, the oldest holds it") {
  json spec = kJobsProject;
  spec["namespaces"]["names"] = {"jobs", "etl"};
  spec["exclusive"] = true;
  std::vector<Policy> ps{policy(spec, "excl")};
  Request holder = req("jobs");
  holder.name = "first";
  holder.creation_timestamp = "2026-01-01T00:00:00Z";
  Request late = req("etl");
  late.name = "second";
  late.creation_timestamp = "2026-02-01T00:00:00Z";
  auto v = evaluate(late, ps, json(), kSettings, {holder, late});
  CHECK(v.denial == Denial::Exclusive);
  CHECK(v.message.find("jobs/first") != std::string::npos);
  CHECK(evaluate(holder, ps, json(), kSettings, {holder, late}).allowed);
  // A second binding in the holder's own namespace is fine.
  Request same_ns = req("jobs");
  same_ns.name = "third";
  same_ns.creation_timestamp = "2026-03-01T00:00:00Z";
  CHECK(evaluate(same_ns, ps, json(), kSettings, {holder, late, same_ns}).allowed);
  // A non-exclusive policy that also allows it lifts exclusivity.
  ps.push_back(policy({{"namespaces", {{"names", {"etl"}}}},
                      {"gcpServiceAccounts", {"*@my-project.iam.gserviceaccount.com"}},
                      {"awsRoles", {"123456789012"}}},
                     "open"));
  CHECK(evaluate(late, ps, json(), kSettings, {holder, late}).allowed);
}

TEST_CASE("glob_match") {
  CHECK(glob_match("*", ""));
  CHECK(glob_match("a*c", "abbbc"));
  CHECK_FALSE(glob_match("a*c", "abbb"));
  CHECK(glob_match("arn:aws:iam::1:role/*", "arn:aws:iam::1:role/x/y"));
  CHECK_FALSE(glob_match("x", "xx"));
  // Many stars on a long input stay cheap (no exponential backtracking).
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
}

TEST_CASE("label selector operators") {
  auto s = kube::LabelSelector::from_json(
      {{"matchExpressions", {{{"key", "env"}, {"operator", "In"}, {"values", {"prod", "stage"}}},
                             {{"key", "legacy"}, {"operator", "DoesNotExist"}}}}});
  CHECK(s.matches({{"env", "prod"}}));
  CHECK_FALSE(s.matches({{"env", "dev"}}));
  CHECK_FALSE(s.matches({{"env", "prod"}, {"legacy", "1"}}));
  CHECK_THROWS_AS(kube::LabelSelector::from_json({{"matchExpressions", {{{"key", "a"}, {"operator", "Gt"}}}}}),
                  std::invalid_argument);
  CHECK(kube::LabelSelector::from_json(json::object()).matches(json::object()));
}

TEST_CASE("unreadable policies are reported, not half-applied") {
  std::string error;
  CHECK_FALSE(parse_policy({{"metadata", {{"name", "x"}}}, {"spec", {{"awsRoles", "not-a-list"}}}}, error));
  CHECK(error.find("awsRoles") != std::string::npos);
}

TEST_CASE("tokenSource Kubernetes: a policy must list it; no GSA is checked, the role and audience are") {
  Request k = req("jobs", "", "arn:aws:iam::123456789012:role/up", "sts.amazonaws.com");
  k.kubernetes = true;
  // Existing policies mean Google only.
  Verdict v = evaluate(k, {policy(kJobsProject)}, json(), kSettings);
  CHECK(v.denial == Denial::TokenSource);
  CHECK(v.message.find("tokenSource Kubernetes") != std::string::npos);

  json both = kJobsProject;
  both["tokenSources"] = {"Google", "Kubernetes"};
  v = evaluate(k, {policy(both)}, json(), kSettings);
  CHECK(v.allowed);
  // The operator's own GSA rule is about Google tokens: nothing to refuse here.
  Request g_op = req("jobs", kSettings.operator_gsa);
  CHECK(evaluate(g_op, {policy(both)}, json(), kSettings).denial == Denial::OperatorServiceAccount);
  // Roles and namespaces still decide.
  Request other_role = k;
  other_role.aws_role_arn = "arn:aws:iam::999999999999:role/up";
  CHECK(evaluate(other_role, {policy(both)}, json(), kSettings).denial == Denial::AwsRole);
  Request other_ns = k;
  other_ns.namespace_ = "web";
  CHECK(evaluate(other_ns, {policy(both)}, json(), kSettings).denial == Denial::Namespace);
  // A policy without audiences allows sts.amazonaws.com for this source,
  // whatever the operator's Google default is.
  const Settings google_default{"my-project", kSettings.operator_gsa,
                                "gtoken/sts/assume-role-with-web-identity"};
  CHECK(evaluate(k, {policy(both)}, json(), google_default).allowed);
  Request k_aud = k;
  k_aud.audience = "gtoken/sts/assume-role-with-web-identity";
  CHECK(evaluate(k_aud, {policy(both)}, json(), google_default).denial == Denial::Audience);

  // A Kubernetes-only policy no longer allows Google bindings.
  json konly = kJobsProject;
  konly["tokenSources"] = {"Kubernetes"};
  CHECK(evaluate(req("jobs"), {policy(konly)}, json(), kSettings).denial == Denial::TokenSource);
  CHECK(evaluate(k, {policy(konly)}, json(), kSettings).allowed);

  // Exclusivity is about GSAs: Kubernetes bindings in two namespaces both pass.
  json excl = both;
  excl["exclusive"] = true;
  excl["namespaces"] = {{"names", {"jobs", "web"}}};
  Request older_k = other_ns;
  older_k.creation_timestamp = "2025-01-01T00:00:00Z";
  CHECK(evaluate(k, {policy(excl)}, json(), kSettings, {older_k}).allowed);
}

TEST_CASE("tokenSource Kubernetes: the cluster's own issuer is never an audience, whatever a policy says") {
  json any_audience = kJobsProject;
  any_audience["tokenSources"] = {"Kubernetes"};
  any_audience["audiences"] = {"*"};
  Settings s = kSettings;
  s.oidc_issuer = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c";
  Request k = req("jobs", "", "arn:aws:iam::123456789012:role/up", s.oidc_issuer);
  k.kubernetes = true;
  Verdict v = evaluate(k, {policy(any_audience)}, json(), s);
  CHECK(v.denial == Denial::Audience);
  CHECK(v.message.find("the cluster's own token issuer") != std::string::npos);
  // Any other audience the policy allows passes; an unknown issuer refuses nothing.
  k.audience = "sts.amazonaws.com";
  CHECK(evaluate(k, {policy(any_audience)}, json(), s).allowed);
  k.audience = s.oidc_issuer;
  CHECK(evaluate(k, {policy(any_audience)}, json(), kSettings).allowed);
}

TEST_CASE("request_from_binding reads the token source and its default audience") {
  const json b = {{"metadata", {{"name", "b"}, {"namespace", "jobs"}}},
                  {"spec",
                   {{"serviceAccountName", "app"},
                    {"tokenSource", "Kubernetes"},
                    {"gcpServiceAccount", "x@my-project.iam.gserviceaccount.com"},
                    {"awsRoleArn", "arn:aws:iam::123456789012:role/up"}}}};
  Request r = request_from_binding(b, "gtoken/sts/assume-role-with-web-identity");
  CHECK(r.kubernetes);
  CHECK(r.audience == "sts.amazonaws.com");
  CHECK(r.gcp_service_account.empty());  // never evaluated for this source
  json g = b;
  g["spec"].erase("tokenSource");
  r = request_from_binding(g, "gtoken/sts/assume-role-with-web-identity");
  CHECK_FALSE(r.kubernetes);
  CHECK(r.audience == "gtoken/sts/assume-role-with-web-identity");
}

TEST_CASE("trustPolicy: Apply from any allowing policy; Verify by default") {
  json verify = kJobsProject;
  json apply = kJobsProject;
  apply["trustPolicy"] = "Apply";
  apply["awsRoles"] = {"arn:aws:iam::123456789012:role/gtoken/*"};
  const std::vector<Policy> both = {policy(verify, "v"), policy(apply, "a")};
  // A role only the Verify policy allows: verify only.
  Verdict v = evaluate(req("jobs"), both, json::object(), kSettings);
  REQUIRE(v.allowed);
  CHECK_FALSE(v.apply_trust);
  // A role both allow: the Apply one lets gtoken write it.
  v = evaluate(req("jobs", "uploader@my-project.iam.gserviceaccount.com",
                   "arn:aws:iam::123456789012:role/gtoken/up"),
               both, json::object(), kSettings);
  REQUIRE(v.allowed);
  CHECK(v.apply_trust);
  CHECK(policy(kJobsProject).apply_trust == false);
  std::string error;
  json bad = kJobsProject;
  bad["trustPolicy"] = "Write";
  CHECK_FALSE(parse_policy({{"metadata", {{"name", "x"}}}, {"spec", bad}}, error));
  CHECK(error == "spec.trustPolicy must be Verify or Apply");
}
