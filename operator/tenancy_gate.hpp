#pragma once
// The controller's side of the tenancy policy: evaluates a binding against
// the cached AwsRoleBindingPolicies and namespace labels, and finds the
// cached bindings whose verdict a change (a policy, a namespace's labels,
// an exclusive GSA's holder) may have turned, so they are reconciled at once
// rather than at the next resync.

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kube/store.hpp"
#include "tenancy/policy.hpp"

namespace gtoken {

class TenancyGate {
 public:
  // `namespaces` holds Namespace objects (at least metadata.labels),
  // `bindings` the controller's slim bindings (tenancy::request_from_binding
  // reads them, and Ready's reason tells what was last decided).
  TenancyGate(tenancy::Settings settings, std::shared_ptr<const kube::Store> policies,
              std::shared_ptr<const kube::Store> namespaces,
              std::shared_ptr<const kube::Store> bindings);

  // Both caches have their first complete list: before that, a verdict could
  // unwind bindings a policy not yet read allows.
  bool synced() const;
  tenancy::Verdict check(const nlohmann::json& binding) const;

  // Keys of cached bindings whose verdict differs from the one their status
  // records (Ready reason NotAllowed or not); "" = every namespace, else one
  // namespace; `gsa` non-empty: only bindings of that GSA.
  std::vector<std::string> changed(const std::string& ns = "", const std::string& gsa = "") const;
  // Whether any policy is exclusive (binding changes then matter to others).
  bool any_exclusive() const;

  const tenancy::Settings& settings() const { return settings_; }

 private:
  using ByGsa = std::map<std::string, std::vector<tenancy::Request>>;
  std::vector<tenancy::Policy> policies() const;
  // The cached bindings not being deleted, by GSA (what exclusivity reads);
  // `only` non-empty: that GSA's alone.
  ByGsa bindings_by_gsa(const std::string& only = "") const;
  tenancy::Verdict check(const nlohmann::json& binding, const std::vector<tenancy::Policy>& policies,
                         const ByGsa& others) const;

  tenancy::Settings settings_;
  std::shared_ptr<const kube::Store> policies_;
  std::shared_ptr<const kube::Store> namespaces_;
  std::shared_ptr<const kube::Store> bindings_;
};

// True when the cached (slim) binding's Ready condition says NotAllowed.
bool recorded_not_allowed(const nlohmann::json& binding);

}  // namespace gtoken
