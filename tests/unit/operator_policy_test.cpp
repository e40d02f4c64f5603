// Google IAM policy edits and the AWS trust policy: pure functions.
#include <doctest/doctest.h>

#include "operator/policy.hpp"

using json = nlohmann::json;
using gtoken::add_member;
using gtoken::aws_trust_policy;
using gtoken::aws_oidc_trust_policy;
using gtoken::oidc_provider_arn;
using gtoken::oidc_provider_command;
using gtoken::oidc_provider_path;
using gtoken::has_member;
using gtoken::kWorkloadIdentityUserRole;
using gtoken::remove_member;
using gtoken::workload_identity_member;

namespace {

const std::string kRole = kWorkloadIdentityUserRole;
const std::string kMember = "serviceAccount:p.svc.id.goog[ns/ksa]";

json busy_policy() {
  return json::parse(R"js({
    "version": 3,
    "etag": "BwXYZ123=",
    "bindings": [
      {"role": "roles/iam.serviceAccountUser", "members": ["user:zed@example.com", "user:amy@example.com"]},
      {"role": "roles/iam.workloadIdentityUser",
       "members": ["serviceAccount:p.svc.id.goog[z/last]", "serviceAccount:p.svc.id.goog[a/first]"],
       "condition": {"title": "t", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}},
      {"role": "roles/iam.workloadIdentityUser",
       "members": ["serviceAccount:p.svc.id.goog[z/zulu]", "serviceAccount:p.svc.id.goog[a/alpha]"]},
      {"role": "roles/viewer", "members": ["group:ops@example.com"]}
    ],
    "auditConfigs": [{"service": "allServices"}]
  })js");
}

}  // namespace

TEST_CASE("workload_identity_member has Google's form") {
  CHECK(workload_identity_member("my-project", "team-a", "uploader") ==
        "serviceAccount:my-project.svc.id.goog[team-a/uploader]");
}

TEST_CASE("add_member to an empty policy creates the binding") {
  json empty = {{"version", 1}, {"etag", "ACAB"}};
  auto e = add_member(empty, kRole, kMember);
  CHECK(e.changed);
  CHECK(e.policy["etag"] == "ACAB");
  CHECK(e.policy["version"] == 1);
  CHECK(e.policy["bindings"] == json::array({{{"role", kRole}, {"members", {kMember}}}}));
  CHECK(has_member(e.policy, kRole, kMember));
}

TEST_CASE("add_member appends to the unconditional binding and keeps everything else in order") {
  json p = busy_policy();
  auto e = add_member(p, kRole, kMember);
  REQUIRE(e.changed);
  json want = busy_policy();
  want["bindings"][2]["members"].push_back(kMember);
  CHECK(e.policy == want);  // order, conditions, etag, version, unknown fields: all kept
}

TEST_CASE("add_member is a no-op when the member is there") {
  json p = busy_policy();
  p["bindings"][2]["members"].push_back(kMember);
  auto e = add_member(p, kRole, kMember);
  CHECK_FALSE(e.changed);
  CHECK(e.policy == p);
  // applying twice never duplicates
  auto twice = add_member(add_member(busy_policy(), kRole, kMember).policy, kRole, kMember);
  CHECK_FALSE(twice.changed);
  int count = 0;
  for (const auto& b : twice.policy["bindings"]) {
    for (const auto& m : b["members"]) count += m == kMember;
  }
  CHECK(count == 1);
}

TEST_CASE("a member in a conditional binding does not count: an unconditional one is added") {
  json p = {{"version", 3},
            {"etag", "e1"},
            {"bindings",
             {{{"role", kRole},
               {"members", {kMember}},
               {"condition", {{"title", "t"}, {"expression", "true"}}}}}}};
  CHECK_FALSE(has_member(p, kRole, kMember));
  auto e = add_member(p, kRole, kMember);
  REQUIRE(e.changed);
  REQUIRE(e.policy["bindings"].size() == 2);
  CHECK(e.policy["bindings"][0] == p["bindings"][0]);
  CHECK(e.policy["bindings"][1] == json{{"role", kRole}, {"members", {kMember}}});
}

TEST_CASE("add_member to a policy without the role appends a binding at the end") {
  json p = {{"version", 1}, {"etag", "e"}, {"bindings", {{{"role", "roles/viewer"}, {"members", {"user:a@b.c"}}}}}};
  auto e = add_member(p, kRole, kMember);
  REQUIRE(e.policy["bindings"].size() == 2);
  CHECK(e.policy["bindings"][0] == p["bindings"][0]);
  CHECK(e.policy["bindings"][1]["role"] == kRole);
}

TEST_CASE("remove_member takes out only that member, order and conditions kept") {
  json p = busy_policy();
  p["bindings"][2]["members"].insert(p["bindings"][2]["members"].begin() + 1, kMember);
  auto e = remove_member(p, kRole, kMember);
  CHECK(e.changed);
  CHECK(e.policy == busy_policy());
}

TEST_CASE("remove_member drops a binding it empties, and leaves conditional ones alone") {
  json p = {{"version", 3},
            {"etag", "e2"},
            {"bindings",
             {{{"role", "roles/viewer"}, {"members", {"user:a@b.c"}}},
              {{"role", kRole}, {"members", {kMember}}},
              {{"role", kRole},
               {"members", {kMember}},
               {"condition", {{"title", "t"}, {"expression", "true"}}}}}}};
  auto e = remove_member(p, kRole, kMember);
  REQUIRE(e.changed);
  REQUIRE(e.policy["bindings"].size() == 2);
  CHECK(e.policy["bindings"][0] == p["bindings"][0]);
  CHECK(e.policy["bindings"][1] == p["bindings"][2]);
  CHECK(e.policy["etag"] == "e2");
}

TEST_CASE("remove_member clears duplicates and several unconditional bindings of the role") {
  json p = {{"etag", "e3"},
            {"bindings",
             {{{"role", kRole}, {"members", {kMember, "user:x@y.z", kMember}}},
              {{"role", "roles/viewer"}, {"members", {kMember}}},
              {{"role", kRole}, {"members", {kMember}}}}}};
  auto e = remove_member(p, kRole, kMember);
  REQUIRE(e.changed);
  CHECK_FALSE(has_member(e.policy, kRole, kMember));
  CHECK(e.policy["bindings"] ==
        json::parse(R"js([{"role":"roles/iam.workloadIdentityUser","members":["user:x@y.z"]},
                        {"role":"roles/viewer","members":["serviceAccount:p.svc.id.goog[ns/ksa]"]}])js"));
}

TEST_CASE("remove_member of an absent member changes nothing") {
  json p = busy_policy();
  auto e = remove_member(p, kRole, kMember);
  CHECK_FALSE(e.changed);
  CHECK(e.policy == p);
  json empty = {{"version", 1}, {"etag", "ACAB"}};
  CHECK_FALSE(remove_member(empty, kRole, kMember).changed);
}

TEST_CASE("add then remove gives the policy back") {
  json p = busy_policy();
  CHECK(remove_member(add_member(p, kRole, kMember).policy, kRole, kMember).policy == p);
}

TEST_CASE("aws_trust_policy pins sub, aud (azp) and oaud") {
  json t = aws_trust_policy("112233445566778899000", "my-audience");
  CHECK(t["Version"] == "2012-10-17");
  REQUIRE(t["Statement"].size() == 1);
  const json& s = t["Statement"][0];
  CHECK(s["Effect"] == "Allow");
  CHECK(s["Principal"] == json{{"Federated", "accounts.google.com"}});
  CHECK(s["Action"] == "sts:AssumeRoleWithWebIdentity");
  CHECK(s["Condition"] == json{{"StringEquals",
                                {{"accounts.google.com:sub", "112233445566778899000"},
                                 {"accounts.google.com:aud", "112233445566778899000"},
                                 {"accounts.google.com:oaud", "my-audience"}}}});
  CHECK(s.size() == 4);  // no wildcard Resource/Sid surprises
}

TEST_CASE("the OIDC provider of a cluster issuer: path, ARN from the role's partition and account") {
  const std::string gke =
      "https://container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/c";
  CHECK(oidc_provider_path(gke) ==
        "container.googleapis.com/v1/projects/p/locations/europe-west1/clusters/c");
  CHECK(oidc_provider_path(gke + "/") == oidc_provider_path(gke));
  CHECK(oidc_provider_path("http://insecure.example") == "");
  CHECK(oidc_provider_path("https://") == "");
  CHECK(oidc_provider_arn(gke, "arn:aws:iam::123456789012:role/path/up") ==
        "arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/projects/p/"
        "locations/europe-west1/clusters/c");
  CHECK(oidc_provider_arn("https://issuer.example", "arn:aws-cn:iam::123456789012:role/up") ==
        "arn:aws-cn:iam::123456789012:oidc-provider/issuer.example");
  CHECK(oidc_provider_arn("https://issuer.example", "arn:aws:sts::123456789012:role/up") == "");
  CHECK(oidc_provider_arn("https://issuer.example", "arn:aws:iam:::role/up") == "");
  CHECK(oidc_provider_arn("", "arn:aws:iam::123456789012:role/up") == "");
}

TEST_CASE("aws_oidc_trust_policy pins the ServiceAccount (sub) and the audience (aud)") {
  json t = aws_oidc_trust_policy("arn:aws:iam::123456789012:oidc-provider/issuer.example/c",
                                 "issuer.example/c", "jobs", "app", "sts.amazonaws.com");
  const json& s = t["Statement"][0];
  CHECK(t["Statement"].size() == 1);
  CHECK(s["Principal"] ==
        json{{"Federated", "arn:aws:iam::123456789012:oidc-provider/issuer.example/c"}});
  CHECK(s["Action"] == "sts:AssumeRoleWithWebIdentity");
  CHECK(s["Condition"] == json{{"StringEquals",
                                {{"issuer.example/c:sub", "system:serviceaccount:jobs:app"},
                                 {"issuer.example/c:aud", "sts.amazonaws.com"}}}});
}

TEST_CASE("the provider command is safe to paste: odd audiences are quoted") {
  CHECK(oidc_provider_command("https://issuer.example/c/", "sts.amazonaws.com") ==
        "aws iam create-open-id-connect-provider --url https://issuer.example/c --client-id-list "
        "sts.amazonaws.com");
  CHECK(oidc_provider_command("https://issuer.example", "a b; rm -rf ~") ==
        "aws iam create-open-id-connect-provider --url https://issuer.example --client-id-list "
        "'a b; rm -rf ~'");
  CHECK(oidc_provider_command("https://issuer.example", "it's") ==
        "aws iam create-open-id-connect-provider --url https://issuer.example --client-id-list "
        "'it'\\''s'");
}
