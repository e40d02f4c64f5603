#pragma once
// The webhook inside gtoken-operator: HTTPS server, admission decision with
// the caches, certificates. One object; operator/app.cpp creates it on every
// replica (leader or not) and the certificate writes check is_leader.

#include <functional>
#include <memory>
#include <string>

#include "kube/http.hpp"
#include "kube/log.hpp"
#include "tenancy/policy.hpp"
#include "webhook/options.hpp"

namespace kube {
class Client;
class Metrics;
class Store;
}  // namespace kube

namespace gtoken::webhook {

struct RuntimeDeps {
  std::shared_ptr<kube::Client> client;
  // For the live ServiceAccount read on a cache miss: the same apiserver and
  // credentials; the runtime makes its own short-timeout client from them.
  kube::HttpOptions http;
  std::shared_ptr<kube::Metrics> metrics;
  // The operator's ServiceAccount cache (metadata only); the runtime only reads it.
  std::shared_ptr<const kube::Store> service_accounts;
  // The process's Namespace cache (name and labels) and AwsRoleBindingPolicy
  // cache, shared with the controller's tenancy gate: one watch of each per
  // process. Both required; the runtime only reads them.
  std::shared_ptr<const kube::Store> namespaces;
  std::shared_ptr<const kube::Store> policies;
  // The controller's AwsRoleBinding cache, for exclusive policies at
  // /validate; may be null (then no other binding is known).
  std::shared_ptr<const kube::Store> bindings;
  // Workload Identity project, operator GSA, default audience: what the
  // tenancy policy is evaluated with at /validate.
  tenancy::Settings tenancy;
  std::function<bool()> is_leader;
  std::string identity;
  std::string operator_namespace;
  kube::Logger* log = nullptr;  // null: no log lines
};

// Lists every webhook metric family (the routes', the certificate
// manager's, the caches' and readiness) in `metrics`, once per process, so a
// scrape shows them all from the start.
void describe_webhook_metrics(kube::Metrics& metrics);

class WebhookRuntime {
 public:
  WebhookRuntime(WebhookOptions options, RuntimeDeps deps);
  ~WebhookRuntime();
  WebhookRuntime(const WebhookRuntime&) = delete;
  WebhookRuntime& operator=(const WebhookRuntime&) = delete;

  // Validates the options, decides native sidecars, starts the namespace
  // cache, the certificate manager and the server. Throws std::runtime_error
  // on unusable options or a port that cannot be bound.
  void start();
  // From now on not ready ("shutting down") while still answering reviews:
  // the first step of a graceful stop.
  void begin_drain();
  // This replica's leadership changed: the certificate manager plans now.
  void leadership_changed();
  void stop();
  // "" when ready (ServiceAccount cache synced, certificate loaded and
  // verifiable with the stored caBundle), else why not.
  std::string not_ready_reason() const;
  unsigned short port() const;
  // The bound metrics port; 0 when there is none.
  unsigned short metrics_port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace gtoken::webhook
