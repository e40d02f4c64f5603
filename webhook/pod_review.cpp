#include "webhook/pod_review.hpp"

#include "kube/names.hpp"
#include "webhook/mutate.hpp"

namespace gtoken::webhook {

using nlohmann::json;

namespace {

Decision skipped(SkipReason reason, std::string warning = {}) {
  Decision decision;
  decision.skip = reason;
  if (!warning.empty()) decision.warnings.push_back(std::move(warning));
  return decision;
}

std::string service_account_name(const json& pod) {
  const auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) return "default";
  // serviceAccount is the deprecated alias, still honoured by the apiserver.
  for (const char* key : {"serviceAccountName", "serviceAccount"}) {
    const auto it = spec->find(key);
    if (it != spec->end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      return it->get<std::string>();
    }
  }
  return "default";
}

}  // namespace

namespace {

using Lookup = std::function<std::optional<SaSettings>(const std::string&, const std::string&)>;

// review_pod's body. `lookup` answers the ServiceAccount; `deferred` tells
// whether its nullopt means "not found" (false) or "no answer" (true: the
// whole decision is then nullopt).
std::optional<Decision> review(const AdmissionRequest& request, const PodReviewEnv& env,
                               const Lookup& lookup, bool deferred) {
  if (request.operation != "CREATE" || request.kind != "Pod" || !request.group.empty() ||
      !request.sub_resource.empty() || !request.object().is_object()) {
    return skipped(SkipReason::UnsupportedRequest);
  }
  const json& pod = request.object();
  std::string namespace_ = request.namespace_;
  if (namespace_.empty()) {
    const auto metadata = pod.find("metadata");
    if (metadata != pod.end() && metadata->is_object()) {
      const auto ns = metadata->find("namespace");
      if (ns != metadata->end() && ns->is_string()) namespace_ = ns->get<std::string>();
    }
  }
  // Before any lookup: these names become cache keys and request paths.
  if (!kube::is_dns1123_label(namespace_)) {
    return skipped(SkipReason::InvalidName, "gtoken: namespace " +
                                                kube::quote_untrusted(namespace_, 64) +
                                                " is not a DNS-1123 label; pod not injected");
  }
  const std::string sa_name = service_account_name(pod);
  if (!kube::is_dns1123_subdomain(sa_name)) {
    return skipped(SkipReason::InvalidName, "gtoken: service account name " +
                                                kube::quote_untrusted(sa_name, 64) +
                                                " is not a DNS-1123 subdomain; pod not injected");
  }

  const std::optional<json> labels =
      env.namespace_labels ? env.namespace_labels(namespace_) : std::nullopt;
  if (auto reason =
          should_skip_namespace(labels.value_or(json()), namespace_, env.operator_namespace)) {
    return skipped(*reason);
  }

  const std::optional<SaSettings> settings = lookup ? lookup(namespace_, sa_name) : std::nullopt;
  if (!settings) {
    if (deferred) return std::nullopt;
    return skipped(
        SkipReason::ServiceAccountNotFound,
        "gtoken: service account " + sa_name + " not found; pod created without AWS credentials");
  }

  MutationText result = mutate_pod_text(pod, namespace_, *settings, env.config, env.random);
  Decision decision;
  decision.patch = std::move(result.patch);
  decision.warnings = std::move(result.warnings);
  decision.skip = result.skip;
  return decision;
}

}  // namespace

Decision review_pod(const AdmissionRequest& request, const PodReviewEnv& env) {
  return *review(request, env, env.service_account, /*deferred=*/false);
}

std::optional<Decision> review_pod_cached(const AdmissionRequest& request,
                                          const PodReviewEnv& env) {
  return review(request, env, env.cached_service_account, /*deferred=*/true);
}

}  // namespace gtoken::webhook
