#pragma once
// What the webhook answers on each path: the RequestHandlers the servers
// call. The webhook port: POST /mutate (pod AdmissionReviews), POST /validate
// (AwsRoleBinding AdmissionReviews), GET /healthz, /livez, /readyz. The
// metrics port: GET /metrics.
//
// /mutate decides on the I/O thread from the caches alone; only what they
// cannot answer (a ServiceAccount cache miss) goes to the lookup pool, whose
// answer is posted back to the connection. A full pool queue or a lookup past
// its deadline answers 500, so the configuration's failurePolicy decides.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kube/log.hpp"
#include "webhook/admission.hpp"
#include "webhook/lookup_pool.hpp"
#include "webhook/server.hpp"

namespace kube {
class Metrics;
}

namespace gtoken::webhook {

struct RoutesEnv {
  // /mutate on the I/O thread, never blocking (review_pod_cached): nullopt
  // when the decision needs a lookup that may block. Empty: always `decide`.
  std::function<std::optional<Decision>(const AdmissionRequest&)> decide_cached;
  // /mutate for what decide_cached left open (review_pod with the live
  // fallback); may block, bounded. Runs on `pool`.
  Decide decide;
  // Where `decide` runs. Null: on the I/O thread (tests only).
  std::shared_ptr<LookupPool> pool;
  // /validate (review_binding, from caches only). Empty: /validate is 404.
  Decide validate;
  // "" when ready, else why not (the /readyz body says it).
  std::function<std::string()> not_ready_reason;
  std::shared_ptr<kube::Metrics> metrics;
  std::size_t body_limit = kDefaultAdmissionBodyLimit;
  kube::Logger* log = nullptr;  // null: no log lines
};

// Lists the routes' metric families (admissions, their duration, binding
// reviews, HTTP requests, lookup pool rejections) in `metrics`, once per
// process; describe_webhook_metrics (runtime.hpp) lists the webhook's all.
void describe_routes_metrics(kube::Metrics& metrics);

// The webhook port's handler.
RequestHandler make_routes(RoutesEnv env);

// The metrics port's handler: GET /metrics (Prometheus text), after
// `refresh` updated the gauges; anything else 404.
RequestHandler make_metrics_routes(std::shared_ptr<kube::Metrics> metrics,
                                   std::function<void()> refresh);

}  // namespace gtoken::webhook
