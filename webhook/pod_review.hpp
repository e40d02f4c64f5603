#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "webhook/admission.hpp"
#include "webhook/config.hpp"
#include "webhook/session_name.hpp"
#include "webhook/settings.hpp"

namespace gtoken::webhook {

// What deciding on one pod needs from the rest of the process. The lookups are
// the server's caches; they are called on the admission path, so they must not
// block for long.
struct PodReviewEnv {
  std::string operator_namespace;
  MutationConfig config;
  // metadata.labels of a namespace; nullopt when unknown (then not skipped:
  // the webhook's namespaceSelector is the first line for that label).
  std::function<std::optional<nlohmann::json>(const std::string& namespace_)> namespace_labels;
  // Settings for a ServiceAccount; nullopt when it is not found. A pod that
  // reaches a mutating webhook names a ServiceAccount that exists (the
  // ServiceAccount admission plugin ran first), so a miss means a stale cache:
  // the lookup should fall back to a live GET before answering nullopt.
  std::function<std::optional<SaSettings>(const std::string& namespace_, const std::string& name)>
      service_account;
  RandomSource random;
};

// The Decide for pod CREATE requests: namespace filter, ServiceAccount lookup,
// mutate_pod. Anything else is allowed unchanged (UnsupportedRequest). Every
// outcome is allowed: a pod without credentials fails visibly in its AWS
// calls, while a denial here would block every pod in the cluster whenever
// this webhook has a problem.
Decision review_pod(const AdmissionRequest& request, const PodReviewEnv& env);

}  // namespace gtoken::webhook
