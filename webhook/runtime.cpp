#include "webhook/runtime.hpp"

#include <atomic>
#include <random>
#include <stdexcept>

#include "kube/client.hpp"
#include "kube/errors.hpp"
#include "kube/metrics.hpp"
#include "kube/store.hpp"
#include "kube/watcher.hpp"
#include "webhook/binding_review.hpp"
#include "webhook/cert_leader.hpp"
#include "webhook/cert_manager.hpp"
#include "webhook/cert_serving.hpp"
#include "webhook/cpu_budget.hpp"
#include "webhook/lookup_pool.hpp"
#include "webhook/pod_review.hpp"
#include "webhook/routes.hpp"
#include "webhook/server.hpp"

namespace gtoken::webhook {

using nlohmann::json;

namespace {

constexpr kube::MetricFamily kCacheMisses{
    "gtoken_webhook_service_account_cache_misses_total", kube::MetricType::counter,
    "ServiceAccount lookups the cache could not answer, by the live read's result "
    "(found, not_found, error)"};
constexpr kube::MetricFamily kServiceAccountCacheSize{"gtoken_webhook_service_account_cache_size",
                                                      kube::MetricType::gauge,
                                                      "ServiceAccounts in the webhook's cache"};
constexpr kube::MetricFamily kNamespaceCacheSize{"gtoken_webhook_namespace_cache_size",
                                                 kube::MetricType::gauge,
                                                 "Namespaces in the webhook's cache"};
constexpr kube::MetricFamily kReady{"gtoken_webhook_ready", kube::MetricType::gauge,
                                    "1 when /readyz answers ok"};

std::uint32_t thread_random() {
  thread_local std::mt19937 rng(std::random_device{}());
  return static_cast<std::uint32_t>(rng());
}

}  // namespace

void describe_webhook_metrics(kube::Metrics& metrics) {
  describe_routes_metrics(metrics);
  describe_cert_serving_metrics(metrics);
  describe_cert_leader_metrics(metrics);
  for (const auto* f : {&kCacheMisses, &kServiceAccountCacheSize, &kNamespaceCacheSize, &kReady}) {
    metrics.describe(*f);
  }
}

struct WebhookRuntime::Impl {
  WebhookOptions o;
  RuntimeDeps d;
  std::shared_ptr<kube::Client> lookup_client;
  std::shared_ptr<const kube::Store> namespaces;
  std::shared_ptr<const kube::Store> policies;
  std::unique_ptr<HttpsServer> server;
  std::unique_ptr<HttpsServer> metrics_server;
  // After the servers: destroyed first, so that no answer it still holds is
  // posted to a server that is gone.
  std::shared_ptr<LookupPool> pool;
  std::unique_ptr<CertManager> certs;
  PodReviewEnv env;
  BindingReviewEnv binding_env;
  std::atomic<bool> draining{false};

  void log(kube::LogLevel level, const std::string& message,
           const json& fields = json::object()) const {
    if (d.log) d.log->log(level, message, fields);
  }

  // Cache first; on a miss one live read bounded by sa_lookup_timeout. A
  // pod reaching us names a ServiceAccount that exists (the ServiceAccount
  // admission plugin ran first), so a miss is a cache that has not caught up
  // yet: a ServiceAccount created just before its pod, or a webhook starting.
  std::optional<SaSettings> cached_service_account(const std::string& ns,
                                                   const std::string& name) const {
    if (d.service_accounts && d.service_accounts->synced()) {
      if (const auto obj = d.service_accounts->get(ns, name)) {
        return settings_from_service_account(*obj);
      }
    }
    return std::nullopt;
  }

  // On a lookup thread, never an I/O thread.
  std::optional<SaSettings> service_account(const std::string& ns, const std::string& name) {
    if (auto cached = cached_service_account(ns, name)) return cached;
    try {
      const json obj = lookup_client->get(kube::resources::service_accounts(), ns, name);
      d.metrics->inc(kCacheMisses, {{"result", "found"}});
      return settings_from_service_account(obj);
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) {
        d.metrics->inc(kCacheMisses, {{"result", "not_found"}});
        return std::nullopt;
      }
      d.metrics->inc(kCacheMisses, {{"result", "error"}});
      throw std::runtime_error("ServiceAccount " + ns + "/" + name +
                               " not in cache, read failed: " + e.what());
    } catch (const kube::NetworkError& e) {
      // Answered with a 500: the configuration's failurePolicy decides.
      d.metrics->inc(kCacheMisses, {{"result", "error"}});
      throw std::runtime_error("ServiceAccount " + ns + "/" + name +
                               " not in cache, read failed: " + e.what());
    }
  }

  // From the namespace cache; unknown namespaces (created a moment ago) are
  // not skipped here: the configuration's namespaceSelector, which the
  // apiserver evaluates with fresh labels, is the first line for the label.
  std::optional<json> namespace_labels(const std::string& ns) const {
    if (!namespaces) return std::nullopt;
    const auto obj = namespaces->get(ns);
    if (!obj) return std::nullopt;
    return (*obj)["metadata"].value("labels", json::object());
  }

  // The AwsRoleBindingPolicies as cached, parsed on each call (a handful of
  // small objects; the controller parses its own). One that does not parse
  // allows nothing.
  std::vector<tenancy::Policy> current_policies() const {
    // Before the first list, "no policy" would deny every binding: answer 500
    // instead, so the failurePolicy (Ignore) applies and the controller decides.
    if (!policies || !policies->synced() || !namespaces || !namespaces->synced()) {
      throw std::runtime_error("AwsRoleBindingPolicy or Namespace cache not synced yet");
    }
    std::vector<tenancy::Policy> out;
    for (const auto& obj : policies->list()) {
      std::string error;
      if (auto p = tenancy::parse_policy(*obj, error)) out.push_back(std::move(*p));
    }
    return out;
  }

  std::vector<tenancy::Request> bindings_of_gsa(const std::string& gsa) const {
    std::vector<tenancy::Request> out;
    if (!d.bindings) return out;
    for (const auto& obj : d.bindings->list()) {
      tenancy::Request r = tenancy::request_from_binding(*obj, d.tenancy.default_audience);
      if (r.gcp_service_account == gsa) out.push_back(std::move(r));
    }
    return out;
  }

  std::string not_ready() const {
    if (draining) return "shutting down";
    if (!d.service_accounts || !d.service_accounts->synced()) {
      return "ServiceAccount cache not synced yet";
    }
    if (!server || !server->has_certificate()) return "no serving certificate loaded yet";
    return certs ? certs->not_ready_reason() : "certificates not started";
  }

  bool decide_native_sidecars() {
    if (o.native_sidecars == "true") return true;
    if (o.native_sidecars == "false") return false;
    for (int attempt = 0; attempt < 3; ++attempt) {
      try {
        const json version = d.client->version();
        if (const auto native = native_sidecars_from_version(version)) {
          log(kube::LogLevel::info, "apiserver version read",
              {{"gitVersion", version.value("gitVersion", "")}, {"nativeSidecars", *native}});
          return *native;
        }
        break;
      } catch (const std::exception& e) {
        log(kube::LogLevel::warn, "cannot read the apiserver version", {{"error", e.what()}});
      }
    }
    // The classic pair works on every apiserver; native ones need 1.33 (or
    // the beta gate on). Set the flag to say which.
    log(kube::LogLevel::warn,
        "assuming classic sidecars (apiserver version unknown); set --native-sidecars");
    return false;
  }
};

WebhookRuntime::WebhookRuntime(WebhookOptions options, RuntimeDeps deps)
    : impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(options);
  impl_->d = std::move(deps);
}

WebhookRuntime::~WebhookRuntime() {
  stop();
}

void WebhookRuntime::start() {
  Impl& m = *impl_;
  const WebhookOptions& o = m.o;
  const std::string service_ns =
      o.service_namespace.empty() ? m.d.operator_namespace : o.service_namespace;

  RotationPolicy policy;
  policy.serving.dns_names = service_dns_names(o.service_name, service_ns);
  for (const auto& n : o.extra_dns) policy.serving.dns_names.push_back(n);
  policy.serving.ip_addresses = o.extra_ips;
  policy.serving.validity = o.cert_validity;
  policy.cert_lookahead = o.cert_lookahead;
  policy.ca_validity = o.ca_validity;
  policy.ca_lookahead = o.ca_lookahead;
  policy.publish_delay = o.ca_publish_delay;
  policy.retire_grace = o.ca_retire_grace;
  if (auto problem = validate_policy(policy)) {
    throw std::runtime_error("webhook certificate settings: " + *problem);
  }

  describe_webhook_metrics(*m.d.metrics);

  kube::HttpOptions lookup = m.d.http;
  lookup.request_timeout = o.sa_lookup_timeout;
  lookup.connect_timeout =
      std::min<std::chrono::milliseconds>(lookup.connect_timeout, o.sa_lookup_timeout);
  m.lookup_client =
      std::make_shared<kube::Client>(std::make_shared<kube::HttpClient>(lookup), "gtoken-webhook");

  m.env.operator_namespace = m.d.operator_namespace;
  m.env.config.agent_image = o.agent_image;
  m.env.config.image_pull_policy = o.agent_image_pull_policy;
  m.env.config.token_mount_path = o.token_mount_path;
  m.env.config.default_region = o.aws_default_region;
  m.env.config.native_sidecars = m.decide_native_sidecars();
  m.env.random = thread_random;
  m.env.service_account = [&m](const std::string& ns, const std::string& name) {
    return m.service_account(ns, name);
  };
  m.env.cached_service_account = [&m](const std::string& ns, const std::string& name) {
    return m.cached_service_account(ns, name);
  };
  m.env.namespace_labels = [&m](const std::string& ns) { return m.namespace_labels(ns); };

  m.binding_env.settings = m.d.tenancy;
  m.binding_env.policies = [&m] { return m.current_policies(); };
  m.binding_env.namespace_labels = [&m](const std::string& ns) { return m.namespace_labels(ns); };
  m.binding_env.bindings_of_gsa = [&m](const std::string& gsa) { return m.bindings_of_gsa(gsa); };

  m.namespaces = m.d.namespaces;
  m.policies = m.d.policies;
  if (!m.namespaces || !m.policies) {
    throw std::runtime_error("webhook runtime: the Namespace and AwsRoleBindingPolicy caches are required");
  }

  LookupPoolOptions po;
  po.threads = o.lookup_threads;
  po.queue_limit = static_cast<std::size_t>(o.lookup_queue);
  // The live read's own timeout, plus a second of queueing: still under the
  // configuration's 5 s timeoutSeconds with the default 2 s.
  po.deadline = o.sa_lookup_timeout + std::chrono::seconds(1);
  m.pool = std::make_shared<LookupPool>(po);

  ServerOptions so;
  so.bind_address = o.bind_address;
  so.port = static_cast<unsigned short>(o.port);
  // One per usable CPU: the decisions on these threads never block, so a
  // second thread on one CPU only queues behind the first (and doubles the
  // tail latency on a loaded core).
  so.threads = o.threads > 0 ? o.threads : available_cpus();
  so.handshake_timeout = o.io_timeout;
  so.read_timeout = o.io_timeout;
  so.write_timeout = o.io_timeout;
  so.log = m.d.log;

  RoutesEnv routes;
  routes.decide_cached = [&m](const AdmissionRequest& r) { return review_pod_cached(r, m.env); };
  routes.decide = [&m](const AdmissionRequest& r) { return review_pod(r, m.env); };
  routes.pool = m.pool;
  routes.validate = [&m](const AdmissionRequest& r) { return review_binding(r, m.binding_env); };
  routes.not_ready_reason = [&m] { return m.not_ready(); };
  routes.metrics = m.d.metrics;
  auto refresh_metrics = [&m] {
    if (m.d.service_accounts) {
      m.d.metrics->set(kServiceAccountCacheSize, static_cast<double>(m.d.service_accounts->size()));
    }
    if (m.namespaces) {
      m.d.metrics->set(kNamespaceCacheSize, static_cast<double>(m.namespaces->size()));
    }
    m.d.metrics->set(kReady, m.not_ready().empty() ? 1 : 0);
  };
  routes.body_limit = so.body_limit;
  routes.log = m.d.log;
  m.server = std::make_unique<HttpsServer>(so, make_routes(std::move(routes)));

  if (o.metrics_port != 0) {
    ServerOptions mo;
    mo.tls = false;
    mo.bind_address = o.metrics_bind_address;
    mo.port = static_cast<unsigned short>(o.metrics_port);
    mo.threads = 1;
    mo.body_limit = 64 * 1024;  // GET only
    mo.max_connections = 64;
    mo.handshake_timeout = mo.read_timeout = mo.write_timeout = o.io_timeout;
    mo.log = so.log;
    m.metrics_server =
        std::make_unique<HttpsServer>(mo, make_metrics_routes(m.d.metrics, refresh_metrics));
  }

  CertManagerOptions co;
  co.secret_name = o.cert_secret_name;
  co.secret_namespace = m.d.operator_namespace;
  co.config_name = o.config_name;
  co.policy = policy;
  co.manage = o.manage_certificates;
  co.identity = m.d.identity;
  co.replica_lease_duration = o.replica_lease_duration;
  m.certs = std::make_unique<CertManager>(
      co, m.d.client, m.d.metrics, m.d.is_leader,
      [&m](const CertKeyPem& pair) { m.server->set_certificate(pair.cert_pem, pair.key_pem); },
      m.d.log);

  m.server->start();
  if (m.metrics_server) {
    try {
      m.metrics_server->start();
    } catch (const std::exception& e) {
      // Metrics are not worth stopping admissions for (nor the controller):
      // the webhook serves on, and the error says what to fix.
      m.log(kube::LogLevel::error, "cannot serve metrics; running without a metrics port",
            {{"error", e.what()}, {"port", o.metrics_port}});
      m.metrics_server.reset();
    }
  }
  m.certs->start();
  m.log(kube::LogLevel::info, "webhook started",
        {{"port", m.server->port()},
         {"metricsPort", m.metrics_server ? m.metrics_server->port() : 0},
         {"threads", so.threads},
         {"lookupThreads", po.threads},
         {"service", o.service_name + "." + service_ns + ".svc"},
         {"configuration", o.config_name},
         {"secret", o.cert_secret_name},
         {"nativeSidecars", m.env.config.native_sidecars},
         {"awsDefaultRegion", m.env.config.default_region}});
}

void WebhookRuntime::begin_drain() {
  impl_->draining = true;
}

void WebhookRuntime::leadership_changed() {
  if (impl_->certs) impl_->certs->leadership_changed();
}

void WebhookRuntime::stop() {
  Impl& m = *impl_;
  if (m.server) m.server->stop();
  if (m.metrics_server) m.metrics_server->stop();
  // Lookups still running finish (bounded by their own timeout); their
  // answers go nowhere.
  if (m.pool) m.pool->stop();
  if (m.certs) m.certs->stop();
}

std::string WebhookRuntime::not_ready_reason() const {
  return impl_->not_ready();
}

unsigned short WebhookRuntime::port() const {
  return impl_->server ? impl_->server->port() : 0;
}

unsigned short WebhookRuntime::metrics_port() const {
  return impl_->metrics_server ? impl_->metrics_server->port() : 0;
}

}  // namespace gtoken::webhook
