#include <doctest/doctest.h>

#include "plugin/binding_doctor.hpp"
#include "plugin/render.hpp"

using namespace gtoken::plugin;
using nlohmann::json;

namespace {

Read sa_with(const json& annotations) {
  Read r;
  r.object = json{{"metadata", {{"annotations", annotations}}}};
  return r;
}

json ready_binding() {
  return {{"metadata", {{"name", "uploader"}, {"namespace", "jobs"}, {"generation", 3}}},
          {"spec",
           {{"serviceAccountName", "orchestrator"},
            {"gcpServiceAccount", "up@my-project.iam.gserviceaccount.com"},
            {"awsRoleArn", "arn:aws:iam::123456789012:role/uploader"}}},
          {"status",
           {{"awsTrustPolicy", "{}"},
            {"podsMissingInjection", 0},
            {"conditions",
             {{{"type", "ServiceAccountReady"}, {"status", "True"}, {"reason", "Annotated"}},
              {{"type", "WorkloadIdentityReady"}, {"status", "True"}, {"reason", "MemberBound"}},
              {{"type", "Ready"},
               {"status", "True"},
               {"reason", "Ready"},
               {"observedGeneration", 3}}}}}}};
}

BindingFacts facts() {
  BindingFacts f;
  f.binding = ready_binding();
  f.namespace_ = {json{{"metadata", {{"name", "jobs"}}}}, ""};
  f.policies = {std::nullopt, "not allowed to read it (your RBAC): forbidden"};
  f.service_account =
      sa_with({{"amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/uploader"},
               {"iam.gke.io/gcp-service-account", "up@my-project.iam.gserviceaccount.com"},
               {"gtoken.io/binding", "uploader"}});
  return f;
}

LinkState state_of(const Report& r, const std::string& id) {
  for (const auto& l : r.links) {
    if (l.id == id) return l.state;
  }
  FAIL("no link " << id);
  return LinkState::NotChecked;
}

}  // namespace

TEST_CASE("a Ready binding holds; unreadable policies only hide their names") {
  Report r = diagnose_binding(facts());
  INFO(render_text(r, false));
  CHECK(all_hold(r));
  CHECK(r.links[0].detail.find("your RBAC") != std::string::npos);
  CHECK(state_of(r, "binding") == LinkState::Pass);
  CHECK(r.links[3].detail == "Ready");
}

TEST_CASE("each condition fails its own link with the fix for its reason") {
  BindingFacts f = facts();
  auto& conds = f.binding["status"]["conditions"];
  conds[1] = {{"type", "WorkloadIdentityReady"},
              {"status", "False"},
              {"reason", "GcpServiceAccountNotFound"}};
  conds[2] = {{"type", "Ready"},
              {"status", "False"},
              {"reason", "GcpServiceAccountNotFound"},
              {"observedGeneration", 3}};
  Report r = diagnose_binding(f);
  CHECK(state_of(r, "WorkloadIdentityReady") == LinkState::Fail);
  CHECK(state_of(r, "binding") == LinkState::Fail);
  CHECK(state_of(r, "ServiceAccountReady") == LinkState::Pass);
  CHECK(r.links[2].fix.find("create the GSA") != std::string::npos);
}

TEST_CASE("pods missing injection, a missing trust policy, a drifted ServiceAccount") {
  BindingFacts f = facts();
  f.binding["status"]["podsMissingInjection"] = 2;
  CHECK(state_of(diagnose_binding(f), "podsMissingInjection") == LinkState::Fail);
  f = facts();
  f.binding["status"].erase("awsTrustPolicy");
  CHECK(state_of(diagnose_binding(f), "trustPolicy") == LinkState::Fail);
  f = facts();
  (*f.service_account.object)["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] =
      "x@my-project.iam.gserviceaccount.com";
  CHECK(state_of(diagnose_binding(f), "serviceAccount") == LinkState::Fail);
}

TEST_CASE("allowed_by names the policy when the caller may list policies") {
  BindingFacts f = facts();
  f.policies = {json{{"items",
                      {{{"metadata", {{"name", "open"}}},
                        {"spec",
                         {{"namespaces", {{"selector", json::object()}}},
                          {"gcpServiceAccounts", {"*"}},
                          {"awsRoles", {"*"}}}}}}}},
                ""};
  CHECK(diagnose_binding(f).links[0].detail == "by open");
}

TEST_CASE("tokenSource Kubernetes: no WorkloadIdentityReady, the EKS annotation") {
  BindingFacts f = facts();
  f.binding["spec"]["tokenSource"] = "Kubernetes";
  f.binding["spec"].erase("gcpServiceAccount");
  f.binding["status"]["conditions"].erase(1);
  f.service_account =
      sa_with({{"eks.amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/uploader"},
               {"gtoken.io/binding", "uploader"}});
  Report r = diagnose_binding(f);
  INFO(render_text(r, false));
  CHECK(state_of(r, "WorkloadIdentityReady") == LinkState::NotApplicable);
  CHECK(all_hold(r));
}
