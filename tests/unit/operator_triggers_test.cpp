// Which informer event enqueues which binding key, over hand-filled caches.
#include <doctest/doctest.h>

#include <algorithm>

#include "operator/reconciler.hpp"
#include "operator/triggers.hpp"

using nlohmann::json;
using gtoken::Triggers;

namespace {

const gtoken::tenancy::Settings kSettings{"my-project", "", "aud"};

json binding(const std::string& ns, const std::string& name, const std::string& ksa,
             const std::string& gsa = "up-loader@my-project.iam.gserviceaccount.com",
             int64_t generation = 1) {
  return {{"metadata",
           {{"namespace", ns}, {"name", name}, {"uid", "u-" + name}, {"generation", generation},
            {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
          {"spec",
           {{"serviceAccountName", ksa},
            {"gcpServiceAccount", gsa},
            {"awsRoleArn", "arn:aws:iam::123456789012:role/r"}}}};
}

struct World {
  std::shared_ptr<kube::Store> bindings = std::make_shared<kube::Store>();
  std::shared_ptr<kube::Store> policies = std::make_shared<kube::Store>();
  std::shared_ptr<kube::Store> namespaces = std::make_shared<kube::Store>();
  std::shared_ptr<gtoken::BindingIndex> index = std::make_shared<gtoken::BindingIndex>();
  std::vector<std::string> keys;
  Triggers triggers{bindings, index,
                    std::make_shared<gtoken::TenancyGate>(kSettings, policies, namespaces, bindings),
                    "aud", [this](const std::string& k) { keys.push_back(k); }};

  World() {
    policies->replace({});
    namespaces->replace({});
  }
  // As the informer does: the store first, then the handler.
  void add(const json& b) {
    bindings->apply(b);
    triggers.binding_added(b);
  }
  std::vector<std::string> take() {
    auto k = keys;
    std::sort(k.begin(), k.end());
    keys.clear();
    return k;
  }
};

}  // namespace

TEST_CASE("a new binding is reconciled") {
  World w;
  w.add(binding("ns", "a", "app"));
  CHECK(w.take() == std::vector<std::string>{"ns/a"});
}

TEST_CASE("our own status writes trigger nothing; spec, deletion and finalizer changes do") {
  World w;
  json b = binding("ns", "a", "app");
  w.add(b);
  w.take();
  json status_only = b;
  status_only["status"] = {{"observedGeneration", 1}};
  w.triggers.binding_updated(b, status_only);
  CHECK(w.take().empty());
  json spec_changed = binding("ns", "a", "app", "up-loader@my-project.iam.gserviceaccount.com", 2);
  w.triggers.binding_updated(b, spec_changed);
  CHECK(w.take() == std::vector<std::string>{"ns/a"});
}

TEST_CASE("letting go of a ServiceAccount wakes the bindings waiting for it") {
  World w;
  json owner = binding("ns", "owner", "app");
  json waiting = binding("ns", "waiting", "app");
  w.add(owner);
  w.add(waiting);
  w.add(binding("other", "elsewhere", "app"));
  w.take();
  json moved = binding("ns", "owner", "another", "up-loader@my-project.iam.gserviceaccount.com", 2);
  w.bindings->apply(moved);
  w.triggers.binding_updated(owner, moved);
  CHECK(w.take() == std::vector<std::string>{"ns/owner", "ns/waiting"});

  w.bindings->remove(waiting);
  w.triggers.binding_deleted(waiting);
  CHECK(w.take() == std::vector<std::string>{"ns/waiting"});
}

TEST_CASE("a ServiceAccount edit reconciles its bindings unless it already matches") {
  World w;
  json b = binding("ns", "a", "app");
  w.add(b);
  w.take();
  json want = gtoken::wanted_annotations("a", b["spec"], "aud");
  json sa = {{"metadata", {{"namespace", "ns"}, {"name", "app"}, {"annotations", want}}}};
  w.triggers.service_account_changed(sa, false);
  CHECK(w.take().empty());  // our own write came back
  sa["metadata"]["annotations"].erase(gtoken::keys::kRoleArn);
  w.triggers.service_account_changed(sa, false);
  CHECK(w.take() == std::vector<std::string>{"ns/a"});  // a hand edit: repaired
  w.triggers.service_account_changed(sa, true);
  CHECK(w.take() == std::vector<std::string>{"ns/a"});  // deleted: recreated
  json other = {{"metadata", {{"namespace", "ns"}, {"name", "unbound"}}}};
  w.triggers.service_account_changed(other, false);
  CHECK(w.take().empty());
}

TEST_CASE("policy and namespace-label changes reconcile the bindings whose verdict turned") {
  World w;
  w.namespaces->replace({json{{"metadata", {{"name", "ns"}, {"labels", json::object()}}}}});
  w.add(binding("ns", "a", "app"));
  w.take();
  // Never reconciled and not allowed: changed() names it on any policy event.
  w.policies->replace({json{{"metadata", {{"name", "p"}}},
                            {"spec",
                             {{"namespaces", {{"selector", {{"matchLabels", {{"team", "x"}}}}}}},
                              {"gcpServiceAccounts", {"*@my-project.iam.gserviceaccount.com"}},
                              {"awsRoles", {"*"}}}}}});
  w.triggers.policy_changed();
  CHECK(w.take() == std::vector<std::string>{"ns/a"});

  json before = {{"metadata", {{"name", "ns"}, {"labels", json::object()}}}};
  json same = before;
  w.triggers.namespace_updated(before, same);
  CHECK(w.take().empty());  // labels unchanged: nothing to look at
  json labelled = {{"metadata", {{"name", "ns"}, {"labels", {{"team", "x"}}}}}};
  w.namespaces->apply(labelled);
  // recorded as never decided, now allowed: the verdict differs from "NotAllowed"
  json refused = binding("ns", "a", "app");
  refused["status"] = {{"conditions", {{{"type", "Ready"}, {"status", "False"}, {"reason", "NotAllowed"}}}}};
  w.bindings->apply(refused);
  w.triggers.namespace_updated(before, labelled);
  CHECK(w.take() == std::vector<std::string>{"ns/a"});
}
