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
  // The cache alone, never blocking (for a decision on an I/O thread):
  // settings when the cache holds the ServiceAccount, nullopt when it cannot
  // say (a miss, or not synced yet). Used by review_pod_cached only.
  std::function<std::optional<SaSettings>(const std::string& namespace_, const std::string& name)>
      cached_service_account;
  RandomSource random;
};

// The Decide for pod CREATE requests: namespace filter, ServiceAccount lookup,
// mutate_pod. Anything else is allowed unchanged (UnsupportedRequest). Every
// outcome is allowed: a pod without credentials fails visibly in its AWS
// calls, while a denial here would block every pod in the cluster whenever
// this webhook has a problem.
//
// The namespace (DNS-1123 label) and the ServiceAccount name (DNS-1123
// subdomain) are checked before any lookup: a name the apiserver would never
// accept is answered allowed-unchanged with InvalidName and a warning, and
// never reaches a cache key or a request path.
Decision review_pod(const AdmissionRequest& request, const PodReviewEnv& env);

// The same decision from env.cached_service_account, never calling
// env.service_account: nullopt when the ServiceAccount is needed and the cache
// has no answer. The server decides this way on its I/O threads and hands only
// the nullopt cases to review_pod on its lookup threads.
std::optional<Decision> review_pod_cached(const AdmissionRequest& request, const PodReviewEnv& env);

}  // namespace gtoken::webhook
