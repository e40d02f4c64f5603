// The controller's tenancy gate over hand-filled caches: it waits for both
// caches, reads namespace labels, and finds exactly the bindings whose
// verdict a change turned.
#include <doctest/doctest.h>

#include <algorithm>

#include "operator/tenancy_gate.hpp"

using nlohmann::json;
using gtoken::TenancyGate;

namespace {

const gtoken::tenancy::Settings kSettings{"my-project", "op@my-project.iam.gserviceaccount.com",
                                          "aud"};

json binding(const std::string& ns, const std::string& name, const std::string& gsa,
             const std::string& ready_reason = "") {
  json b = {{"metadata", {{"namespace", ns}, {"name", name}, {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
            {"spec",
             {{"serviceAccountName", "ksa"},
              {"gcpServiceAccount", gsa},
              {"awsRoleArn", "arn:aws:iam::123456789012:role/r"}}}};
  if (!ready_reason.empty()) {
    b["status"] = {{"conditions", {{{"type", "Ready"}, {"status", ready_reason == "Ready" ? "True" : "False"},
                                    {"reason", ready_reason}}}}};
  }
  return b;
}

json policy(const std::string& name, const json& namespaces) {
  return {{"metadata", {{"name", name}}},
          {"spec",
           {{"namespaces", namespaces},
            {"gcpServiceAccounts", {"*@my-project.iam.gserviceaccount.com"}},
            {"awsRoles", {"123456789012"}}}}};
}

json ns(const std::string& name, const json& labels = json::object()) {
  return {{"metadata", {{"name", name}, {"labels", labels}}}};
}

struct Caches {
  std::shared_ptr<kube::Store> policies = std::make_shared<kube::Store>();
  std::shared_ptr<kube::Store> namespaces = std::make_shared<kube::Store>();
  std::shared_ptr<kube::Store> bindings = std::make_shared<kube::Store>();
  TenancyGate gate{kSettings, policies, namespaces, bindings};
};

}  // namespace

TEST_CASE("no verdict before both caches have listed") {
  Caches c;
  CHECK_FALSE(c.gate.synced());
  c.policies->replace({});
  CHECK_FALSE(c.gate.synced());
  c.namespaces->replace({});
  CHECK(c.gate.synced());
}

TEST_CASE("verdicts read the cached policies and namespace labels") {
  Caches c;
  c.policies->replace({policy("by-name", {{"names", {"jobs"}}}),
                       policy("by-label", {{"selector", {{"matchLabels", {{"team", "data"}}}}}})});
  c.namespaces->replace({ns("jobs"), ns("etl", {{"team", "data"}}), ns("web", {{"team", "web"}})});
  const std::string gsa = "up-loader@my-project.iam.gserviceaccount.com";
  CHECK(c.gate.check(binding("jobs", "a", gsa)).allowed);
  CHECK(c.gate.check(binding("etl", "a", gsa)).allowed);
  auto v = c.gate.check(binding("web", "a", gsa));
  CHECK_FALSE(v.allowed);
  CHECK(v.message.find("\"web\"") != std::string::npos);
  // the operator's own GSA, whatever the policies say
  CHECK_FALSE(c.gate.check(binding("jobs", "a", kSettings.operator_gsa)).allowed);
}

TEST_CASE("changed() names the bindings whose verdict turned, and only those") {
  Caches c;
  const std::string gsa = "up-loader@my-project.iam.gserviceaccount.com";
  c.namespaces->replace({ns("jobs"), ns("etl", {{"team", "data"}})});
  c.policies->replace({policy("jobs", {{"names", {"jobs"}}})});
  c.bindings->replace({binding("jobs", "ready", gsa, "Ready"),
                       binding("etl", "refused", gsa, "NotAllowed"),
                       binding("etl", "new", gsa)});
  // As recorded: jobs/ready allowed and Ready, etl/refused refused. Only the
  // never-reconciled etl/new disagrees (it would be refused).
  CHECK(c.gate.changed() == std::vector<std::string>{"etl/new"});

  // A policy for etl's label turns etl's bindings; jobs/ready stays.
  c.policies->replace({policy("jobs", {{"names", {"jobs"}}}),
                       policy("data", {{"selector", {{"matchLabels", {{"team", "data"}}}}}})});
  CHECK(c.gate.changed() == std::vector<std::string>{"etl/refused"});
  CHECK(c.gate.changed("jobs").empty());

  // The jobs policy goes: jobs/ready must be unwound.
  c.policies->replace({policy("data", {{"selector", {{"matchLabels", {{"team", "data"}}}}}})});
  auto keys = c.gate.changed();
  CHECK(std::find(keys.begin(), keys.end(), "jobs/ready") != keys.end());
  CHECK(c.gate.changed("", "other@my-project.iam.gserviceaccount.com").empty());
}

TEST_CASE("exclusive policies see the other bindings of the GSA in the cache") {
  Caches c;
  const std::string gsa = "solo-account@my-project.iam.gserviceaccount.com";
  json p = policy("solo", {{"names", {"a", "b"}}});
  p["spec"]["exclusive"] = true;
  c.policies->replace({p});
  c.namespaces->replace({ns("a"), ns("b")});
  json first = binding("a", "first", gsa, "Ready");
  json second = binding("b", "second", gsa);
  second["metadata"]["creationTimestamp"] = "2026-02-01T00:00:00Z";
  c.bindings->replace({first, second});
  CHECK(c.gate.any_exclusive());
  auto v = c.gate.check(second);
  CHECK_FALSE(v.allowed);
  CHECK(v.message.find("a/first") != std::string::npos);
  // A holder being deleted holds nothing.
  first["metadata"]["deletionTimestamp"] = "2026-03-01T00:00:00Z";
  c.bindings->replace({first, second});
  CHECK(c.gate.check(second).allowed);
}

TEST_CASE("recorded_not_allowed reads the cached Ready reason") {
  CHECK(gtoken::recorded_not_allowed(binding("n", "b", "g", "NotAllowed")));
  CHECK_FALSE(gtoken::recorded_not_allowed(binding("n", "b", "g", "Ready")));
  CHECK_FALSE(gtoken::recorded_not_allowed(binding("n", "b", "g")));
}
