#include "operator/triggers.hpp"

#include "operator/reconciler.hpp"

namespace gtoken {

using json = nlohmann::json;

namespace {

std::string spec_string(const json& b, const char* field) {
  return b.contains("spec") && b["spec"].is_object() ? b["spec"].value(field, "") : std::string();
}

std::string meta_string(const json& obj, const char* field) {
  return obj.contains("metadata") ? obj["metadata"].value(field, "") : std::string();
}

bool deleting(const json& b) {
  return b.contains("metadata") && b["metadata"].contains("deletionTimestamp");
}

}  // namespace

Triggers::Triggers(std::shared_ptr<const kube::Store> bindings, std::shared_ptr<BindingIndex> index,
                   std::shared_ptr<const TenancyGate> gate, std::string default_audience,
                   Enqueue enqueue)
    : bindings_(std::move(bindings)),
      index_(std::move(index)),
      gate_(std::move(gate)),
      default_audience_(std::move(default_audience)),
      enqueue_(std::move(enqueue)) {}

void Triggers::binding_added(const json& b) {
  index_->update(b);
  enqueue_(kube::object_key(b));
  exclusive_peers(b);
}

void Triggers::binding_updated(const json& old_b, const json& b) {
  index_->update(b);
  // Our own status writes come back here: they need no reconcile.
  if (!binding_update_needs_reconcile(old_b, b)) return;
  enqueue_(kube::object_key(b));
  const std::string ksa = spec_string(old_b, "serviceAccountName");
  if (ksa != spec_string(b, "serviceAccountName") || deleting(b)) {
    claimants(meta_string(b, "namespace"), ksa, meta_string(b, "name"));
  }
  if (spec_string(old_b, "gcpServiceAccount") != spec_string(b, "gcpServiceAccount") ||
      deleting(b)) {
    exclusive_peers(old_b);
    exclusive_peers(b);
  }
}

void Triggers::binding_deleted(const json& b) {
  index_->remove(b);
  enqueue_(kube::object_key(b));
  claimants(meta_string(b, "namespace"), spec_string(b, "serviceAccountName"),
            meta_string(b, "name"));
  exclusive_peers(b);
}

void Triggers::service_account_changed(const json& sa, bool deleted) {
  const std::string ns = meta_string(sa, "namespace");
  const std::string name = meta_string(sa, "name");
  const json annotations = sa["metadata"].value("annotations", json::object());
  for (const auto& b : index_->bindings(*bindings_, ns, name)) {
    if (spec_string(*b, "serviceAccountName") != name) continue;
    const BindingView v = view_binding(*b, default_audience_);
    if (!deleted && annotations_match(annotations,
                                      wanted_annotations(v.name, v.spec, default_audience_),
                                      owned_optional_keys(v))) {
      continue;
    }
    enqueue_(ns + "/" + v.name);
  }
}

void Triggers::policy_changed() { verdicts_changed("", ""); }

void Triggers::namespace_added(const json& ns) { verdicts_changed(meta_string(ns, "name"), ""); }

void Triggers::namespace_updated(const json& old_ns, const json& ns) {
  if (old_ns["metadata"].value("labels", json::object()) !=
      ns["metadata"].value("labels", json::object())) {
    verdicts_changed(meta_string(ns, "name"), "");
  }
}

void Triggers::claimants(const std::string& ns, const std::string& ksa, const std::string& except) {
  for (const auto& b : index_->bindings(*bindings_, ns, ksa)) {
    const std::string name = meta_string(*b, "name");
    if (name != except && spec_string(*b, "serviceAccountName") == ksa) enqueue_(ns + "/" + name);
  }
}

void Triggers::exclusive_peers(const json& b) {
  if (gate_ && gate_->any_exclusive()) verdicts_changed("", spec_string(b, "gcpServiceAccount"));
}

void Triggers::verdicts_changed(const std::string& ns, const std::string& gsa) {
  if (!gate_) return;
  for (const auto& key : gate_->changed(ns, gsa)) enqueue_(key);
}

}  // namespace gtoken
