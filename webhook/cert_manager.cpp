#include "webhook/cert_manager.hpp"

#include <atomic>
#include <mutex>

#include "kube/client.hpp"
#include "kube/controller.hpp"
#include "kube/metrics.hpp"
#include "kube/rate_limiter.hpp"
#include "kube/watcher.hpp"
#include "kube/workqueue.hpp"
#include "webhook/cert_client.hpp"
#include "webhook/cert_leader.hpp"
#include "webhook/cert_readiness.hpp"
#include "webhook/cert_serving.hpp"
#include "webhook/replica_report.hpp"

namespace gtoken::webhook {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The controller's keys: one per periodic job.
constexpr const char* kPlanKey = "plan";
constexpr const char* kReportKey = "report";
constexpr const char* kReadinessKey = "readiness";

constexpr auto kReadinessPeriod = 2s;

}  // namespace

struct CertManager::Impl {
  CertManagerOptions o;
  std::shared_ptr<kube::Client> kube_client;
  std::shared_ptr<kube::Metrics> metrics;
  std::function<bool()> is_leader;
  kube::Logger* logger = nullptr;
  std::shared_ptr<kube::Clock> clock;
  std::shared_ptr<CertClient> client;

  std::unique_ptr<CertServing> serving;
  std::unique_ptr<CertLeader> leader;  // null without manage

  std::unique_ptr<kube::Informer> secrets;
  std::unique_ptr<kube::Informer> configs;
  // The ValidatingWebhookConfiguration of the same name (AwsRoleBindings):
  // optional; when it exists its webhooks get the same caBundle.
  std::unique_ptr<kube::Informer> vconfigs;

  std::shared_ptr<kube::WorkQueue> queue;
  std::unique_ptr<kube::Controller> controller;
  std::atomic<bool> stopped{false};
  std::atomic<bool> lease_written{false};

  mutable std::mutex ready_mu;
  std::string not_ready = "no serving certificate loaded yet";

  void log(kube::LogLevel level, const std::string& message,
           const json& fields = json::object()) const {
    if (logger) logger->log(level, message, fields);
  }

  void plan_soon() {
    if (leader) queue->add(kPlanKey);
  }

  void on_secret(const json& secret) {
    if (serving->on_secret(secret)) {
      update_readiness();
      queue->add(kReportKey);
    }
    // Also when nothing new is served: it may be our own write arriving.
    plan_soon();
  }

  void update_readiness() {
    ReadinessInput in;
    in.served_cert_pem = serving->served_cert_pem();
    in.config_name = o.config_name;
    in.mutating_synced = configs && configs->synced();
    if (in.mutating_synced) in.mutating = configs->store().get(o.config_name);
    if (vconfigs && vconfigs->synced()) in.validating = vconfigs->store().get(o.config_name);
    in.now = clock->now();
    const std::string why = certificate_not_ready_reason(in);
    std::lock_guard lock(ready_mu);
    if (why != not_ready) {
      if (why.empty()) {
        log(kube::LogLevel::info, "webhook certificate verifiable by the apiserver");
      } else {
        log(kube::LogLevel::debug, "webhook not ready", {{"reason", why}});
      }
    }
    not_ready = why;
  }

  CertView view() const {
    CertView v;
    v.synced = secrets->synced() && configs->synced() && vconfigs->synced();
    v.secret = secrets->store().get(o.secret_namespace, o.secret_name);
    v.mutating = configs->store().get(o.config_name);
    v.validating = vconfigs->store().get(o.config_name);
    return v;
  }

  kube::Result reconcile(const std::string& key) {
    if (key == kReadinessKey) {
      update_readiness();
      return kube::Result::requeue_after(kReadinessPeriod);
    }
    if (key == kReportKey) {
      try {
        write_replica_report(*client, {o.identity, o.secret_namespace, o.replica_lease_duration},
                             serving->served(), clock->now());
      } catch (const std::exception& e) {
        log(kube::LogLevel::warn, "cannot write this replica's certificate report",
            {{"error", e.what()}});
        return kube::Result::error(e.what());
      }
      lease_written = true;
      return kube::Result::requeue_after(o.replica_lease_duration / 3);
    }
    if (key == kPlanKey && leader) return leader->reconcile();
    return kube::Result::ok();
  }
};

CertManager::CertManager(CertManagerOptions options, std::shared_ptr<kube::Client> client,
                         std::shared_ptr<kube::Metrics> metrics, std::function<bool()> is_leader,
                         std::function<void(const CertKeyPem&)> load, kube::Logger* log,
                         std::shared_ptr<kube::Clock> clock)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.o = std::move(options);
  m.kube_client = std::move(client);
  m.metrics = std::move(metrics);
  m.is_leader = std::move(is_leader);
  m.logger = log;
  m.clock = clock ? std::move(clock) : kube::system_clock();
  m.client = make_cert_client(m.kube_client, m.o.secret_namespace);
  m.serving = std::make_unique<CertServing>(std::move(load), m.clock, m.metrics, m.logger);
  if (m.o.manage) {
    m.leader = std::make_unique<CertLeader>(
        CertLeaderOptions{m.o.secret_name, m.o.secret_namespace, m.o.config_name, m.o.policy},
        m.client, [&m] { return m.view(); }, m.is_leader, m.clock, m.metrics, m.logger);
  }
  kube::BackoffPolicy retry;
  retry.base = 200ms;
  retry.cap = 2s;
  m.queue =
      std::make_shared<kube::WorkQueue>(m.clock, std::make_shared<kube::BackoffRateLimiter>(retry));
  // One worker per key, so a slow replica-report write (an apiserver under
  // load) never holds back the leader's plan: a certificate that must be
  // renewed within its lookahead waits for nothing but its own turn. The
  // queue still gives each key to one worker at a time.
  kube::Controller::Options copts;
  copts.workers = 3;
  m.controller = std::make_unique<kube::Controller>(
      m.queue, [&m](const std::string& key) { return m.reconcile(key); }, copts);
}

CertManager::~CertManager() {
  stop();
}

void CertManager::start() {
  Impl& m = *impl_;
  kube::InformerOptions io;
  io.watcher.log = m.logger;
  m.secrets = std::make_unique<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(m.kube_client, kube::resources::secrets(),
                                              m.o.secret_namespace, "",
                                              "metadata.name=" + m.o.secret_name),
      io);
  m.secrets->on_add([&m](const json& s) { m.on_secret(s); });
  m.secrets->on_update([&m](const json&, const json& s) { m.on_secret(s); });
  m.secrets->on_delete([&m](const json&) {
    m.log(kube::LogLevel::warn, "certificate Secret deleted; serving the last certificate",
          {{"secret", m.o.secret_name}});
    m.plan_soon();
  });
  m.configs = std::make_unique<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(m.kube_client,
                                              kube::resources::mutating_webhook_configurations(),
                                              "", "", "metadata.name=" + m.o.config_name),
      io);
  m.configs->on_change([&m](const std::string&) {
    m.update_readiness();
    m.plan_soon();
  });
  m.vconfigs = std::make_unique<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(m.kube_client,
                                              kube::resources::validating_webhook_configurations(),
                                              "", "", "metadata.name=" + m.o.config_name),
      io);
  m.vconfigs->on_change([&m](const std::string&) {
    m.update_readiness();
    m.plan_soon();
  });
  m.queue->add(kReportKey);
  m.queue->add(kReadinessKey);
  m.plan_soon();
  m.secrets->start();
  m.configs->start();
  m.vconfigs->start();
  m.controller->start();
}

void CertManager::stop() {
  Impl& m = *impl_;
  if (m.stopped.exchange(true)) return;
  m.controller->stop();  // waits for the reconcile in flight
  if (m.secrets) m.secrets->stop();
  if (m.configs) m.configs->stop();
  if (m.vconfigs) m.vconfigs->stop();
  if (m.lease_written) {
    try {
      m.client->delete_lease(replica_lease_name(m.o.identity));
    } catch (const std::exception&) {
      // Expires by itself.
    }
  }
}

void CertManager::leadership_changed() {
  if (!impl_->stopped) impl_->plan_soon();
}

std::string CertManager::not_ready_reason() const {
  std::lock_guard lock(impl_->ready_mu);
  return impl_->not_ready;
}

}  // namespace gtoken::webhook
