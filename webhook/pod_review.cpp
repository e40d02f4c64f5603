#include "webhook/pod_review.hpp"

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

Decision review_pod(const AdmissionRequest& request, const PodReviewEnv& env) {
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

  const std::optional<json> labels =
      env.namespace_labels ? env.namespace_labels(namespace_) : std::nullopt;
  if (auto reason =
          should_skip_namespace(labels.value_or(json()), namespace_, env.operator_namespace)) {
    return skipped(*reason);
  }

  const std::string sa_name = service_account_name(pod);
  const std::optional<SaSettings> settings =
      env.service_account ? env.service_account(namespace_, sa_name) : std::nullopt;
  if (!settings) {
    return skipped(
        SkipReason::ServiceAccountNotFound,
        "gtoken: service account " + sa_name + " not found; pod created without AWS credentials");
  }

  MutationResult result = mutate_pod(pod, namespace_, *settings, env.config, env.random);
  Decision decision;
  decision.patch = std::move(result.patch);
  decision.warnings = std::move(result.warnings);
  decision.skip = result.skip;
  return decision;
}

}  // namespace gtoken::webhook
