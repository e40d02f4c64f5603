#pragma once
// What the webhook answers on each path: the one RequestHandler the server
// calls. POST /mutate (AdmissionReview), GET /healthz, /readyz, /metrics.

#include <functional>
#include <memory>
#include <string>

#include "webhook/admission.hpp"
#include "webhook/options.hpp"
#include "webhook/server.hpp"

namespace kube {
class Metrics;
}

namespace gtoken::webhook {

struct RoutesEnv {
  // The decision for one AdmissionReview (review_pod with the caches).
  Decide decide;
  // "" when ready, else why not (the /readyz body says it).
  std::function<std::string()> not_ready_reason;
  std::shared_ptr<kube::Metrics> metrics;
  // Called before /metrics renders, to refresh gauges (cache size, ...).
  std::function<void()> refresh_metrics;
  std::size_t body_limit = kDefaultAdmissionBodyLimit;
  Logger log;
};

// Describes the webhook's metric families in `metrics` (once per process).
void describe_webhook_metrics(kube::Metrics& metrics);

RequestHandler make_routes(RoutesEnv env);

}  // namespace gtoken::webhook
