#include "operator/tenancy_gate.hpp"

#include "contract/gtoken.hpp"
#include "kube/log.hpp"
#include "operator/binding_view.hpp"

namespace gtoken {

using json = nlohmann::json;

TenancyGate::TenancyGate(tenancy::Settings settings, std::shared_ptr<const kube::Store> policies,
                         std::shared_ptr<const kube::Store> namespaces,
                         std::shared_ptr<const kube::Store> bindings)
    : settings_(std::move(settings)),
      policies_(std::move(policies)),
      namespaces_(std::move(namespaces)),
      bindings_(std::move(bindings)) {}

bool TenancyGate::synced() const {
  return policies_->synced() && namespaces_->synced();
}

std::vector<tenancy::Policy> TenancyGate::policies() const {
  std::vector<tenancy::Policy> out;
  for (const auto& obj : policies_->list()) {
    std::string error;
    if (auto p = tenancy::parse_policy(*obj, error)) {
      out.push_back(std::move(*p));
    } else {
      // Allows nothing; the CRD's schema makes this all but impossible.
      kube::process_logger().warn("ignoring unreadable AwsRoleBindingPolicy",
                                  {{"policy", kube::object_key(*obj)}, {"error", error}});
    }
  }
  return out;
}

TenancyGate::ByGsa TenancyGate::bindings_by_gsa(const std::string& only) const {
  ByGsa out;
  if (!bindings_) return out;
  for (const auto& b : bindings_->list()) {
    if ((*b)["metadata"].contains("deletionTimestamp")) continue;
    tenancy::Request r = tenancy::request_from_binding(*b, settings_.default_audience);
    if (only.empty() || r.gcp_service_account == only) {
      out[r.gcp_service_account].push_back(std::move(r));
    }
  }
  return out;
}

tenancy::Verdict TenancyGate::check(const json& binding, const std::vector<tenancy::Policy>& policies,
                                    const ByGsa& others) const {
  const tenancy::Request r = tenancy::request_from_binding(binding, settings_.default_audience);
  json labels;
  if (auto ns = namespaces_->get(r.namespace_)) {
    labels = (*ns)["metadata"].value("labels", json::object());
  }
  static const std::vector<tenancy::Request> none;
  auto it = others.find(r.gcp_service_account);
  return tenancy::evaluate(r, policies, labels, settings_, it == others.end() ? none : it->second);
}

namespace {

bool any_exclusive_in(const std::vector<tenancy::Policy>& policies) {
  for (const auto& p : policies) {
    if (p.exclusive) return true;
  }
  return false;
}

}  // namespace

tenancy::Verdict TenancyGate::check(const json& binding) const {
  const auto ps = policies();
  // Only exclusive policies look at other bindings (of the same GSA): read
  // them only then, and never for a Kubernetes-source binding, which has none.
  const json spec = binding.value("spec", json::object());
  const std::string gsa = spec.is_object() ? spec.value("gcpServiceAccount", "") : std::string();
  const bool kubernetes = kubernetes_source(spec);
  return check(binding, ps,
               any_exclusive_in(ps) && !kubernetes && !gsa.empty() ? bindings_by_gsa(gsa) : ByGsa{});
}

bool TenancyGate::any_exclusive() const { return any_exclusive_in(policies()); }

std::vector<std::string> TenancyGate::changed(const std::string& ns, const std::string& gsa) const {
  std::vector<std::string> out;
  if (!bindings_) return out;
  const auto ps = policies();
  // One pass over the bindings for every verdict below, not one per binding.
  const ByGsa others = any_exclusive_in(ps) ? bindings_by_gsa(gsa) : ByGsa{};
  for (const auto& b : ns.empty() ? bindings_->list() : bindings_->list(ns)) {
    if ((*b)["metadata"].contains("deletionTimestamp")) continue;
    if (!gsa.empty() && (!b->contains("spec") || (*b)["spec"].value("gcpServiceAccount", "") != gsa)) {
      continue;
    }
    if (check(*b, ps, others).allowed == recorded_not_allowed(*b)) out.push_back(kube::object_key(*b));
  }
  return out;
}

bool recorded_not_allowed(const json& b) {
  if (!b.contains("status") || !b["status"].is_object()) return false;
  const json& st = b["status"];
  if (!st.contains("conditions") || !st["conditions"].is_array()) return false;
  for (const auto& c : st["conditions"]) {
    if (c.is_object() && c.value("type", "") == contract::kConditionReady) {
      return c.value("reason", "") == contract::kReasonNotAllowed;
    }
  }
  return false;
}

}  // namespace gtoken
