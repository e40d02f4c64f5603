#include "webhook/binding_review.hpp"

#include "contract/gtoken.hpp"

namespace gtoken::webhook {

using nlohmann::json;

Decision review_binding(const AdmissionRequest& request, const BindingReviewEnv& env) {
  Decision d;
  if ((request.operation != "CREATE" && request.operation != "UPDATE") ||
      request.group != "gtoken.io" || request.kind != "AwsRoleBinding" ||
      !request.sub_resource.empty() || !request.object().is_object()) {
    d.skip = SkipReason::UnsupportedRequest;
    return d;
  }
  const json& obj = request.object();
  const json spec = obj.value("spec", json::object());
  const json meta = obj.value("metadata", json::object());
  if (!spec.is_object() || !meta.is_object()) {
    d.skip = SkipReason::UnsupportedRequest;
    return d;
  }
  // A binding being deleted only needs its cleanup to go through.
  if (meta.contains("deletionTimestamp")) return d;

  tenancy::Request r = tenancy::request_from_binding(obj, env.settings.default_audience);
  // The request's namespace is the apiserver's word; the object's may be unset.
  r.namespace_ = request.namespace_;
  if (r.name.empty()) r.name = request.name;

  const std::optional<json> labels =
      env.namespace_labels ? env.namespace_labels(r.namespace_) : std::nullopt;
  const std::vector<tenancy::Policy> policies = env.policies ? env.policies() : std::vector<tenancy::Policy>{};
  const std::vector<tenancy::Request> others =
      env.bindings_of_gsa && !r.kubernetes ? env.bindings_of_gsa(r.gcp_service_account)
                                           : std::vector<tenancy::Request>{};
  const tenancy::Verdict v =
      tenancy::evaluate(r, policies, labels.value_or(json()), env.settings, others);
  if (v.allowed) return d;
  d.allowed = false;
  d.status_code = 403;
  d.status_message = std::string(contract::kReasonNotAllowed) + ": " + v.message;
  return d;
}

}  // namespace gtoken::webhook
