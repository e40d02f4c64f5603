#include "webhook/cert_manager.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "kube/client.hpp"
#include "kube/errors.hpp"
#include "kube/leader.hpp"
#include "kube/metrics.hpp"
#include "kube/watcher.hpp"
#include "webhook/base64.hpp"

namespace gtoken::webhook {

using nlohmann::json;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr const char* kReplicaLabel = "gtoken.io/webhook-replica";
constexpr const char* kServingCaAnnotation = "gtoken.io/serving-ca-sha256";
constexpr const char* kServingCertAnnotation = "gtoken.io/serving-cert-sha256";

std::string resource_version(const kube::ObjectPtr& obj) {
  if (!obj) return {};
  return (*obj)["metadata"].value("resourceVersion", "");
}

double unix_seconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The CA certificates of each webhook's caBundle; empty list for a webhook
// without one.
std::vector<std::vector<std::string>> bundles_of(const json& config) {
  std::vector<std::vector<std::string>> out;
  const auto webhooks = config.find("webhooks");
  if (webhooks == config.end() || !webhooks->is_array()) return out;
  for (const auto& w : *webhooks) {
    std::vector<std::string> certs;
    if (w.is_object() && w.contains("clientConfig") && w["clientConfig"].is_object()) {
      const auto& cc = w["clientConfig"];
      if (cc.contains("caBundle") && cc["caBundle"].is_string()) {
        if (auto pem = base64_decode(cc["caBundle"].get<std::string>())) {
          certs = split_certificates(*pem);
        }
      }
    }
    out.push_back(std::move(certs));
  }
  return out;
}

}  // namespace

std::string replica_lease_name(const std::string& identity) {
  // FNV-1a 64: stable across processes, and enough to tell replicas apart.
  std::uint64_t h = 1469598103934665603ULL;
  for (const char c : identity) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string("gtoken-webhook-") + buf;
}

struct CertManager::Impl {
  CertManagerOptions o;
  std::shared_ptr<kube::Client> client;
  std::shared_ptr<kube::Metrics> metrics;
  std::function<bool()> is_leader;
  std::function<void(const CertKeyPem&)> load;
  Logger logger;

  std::unique_ptr<kube::Informer> secrets;
  std::unique_ptr<kube::Informer> configs;
  // The ValidatingWebhookConfiguration of the same name (AwsRoleBindings):
  // optional; when it exists its webhooks get the same caBundle.
  std::unique_ptr<kube::Informer> vconfigs;

  std::mutex mu;
  std::condition_variable cv;
  bool wake = false;
  bool stopping = false;
  std::thread loop;

  // What the server serves (guarded by served_mu).
  mutable std::mutex served_mu;
  std::string served_cert_pem;
  std::string served_cert_fp;
  std::string served_ca_fp;
  std::atomic<bool> report_dirty{true};

  mutable std::mutex ready_mu;
  std::string not_ready = "no serving certificate loaded yet";

  // Leader: the versions it wrote, until its informers have seen them.
  std::string pending_secret_rv;
  std::string pending_config_rv;
  std::string pending_vconfig_rv;
  Steady::time_point pending_until{};
  Steady::time_point next_report{};
  bool lease_written = false;

  void log(int level, const std::string& message, const json& fields = json::object()) const {
    if (logger) logger(level, message, fields);
  }

  void poke() {
    std::lock_guard lock(mu);
    wake = true;
    cv.notify_all();
  }

  // --- every replica: serve what the Secret holds ---
  void on_secret(const json& secret) {
    const CertState state = cert_state_from_secret(secret);
    if (!state.serving) {
      log(kDebug, "certificate Secret holds no serving certificate yet");
      return;
    }
    {
      std::lock_guard lock(served_mu);
      if (state.serving->cert_pem == served_cert_pem) return;  // bytes unchanged
    }
    try {
      load(*state.serving);
    } catch (const std::exception& e) {
      metrics->inc("gtoken_webhook_certificate_reloads_total", {{"result", "error"}});
      log(kWarn, "cannot serve the certificate from the Secret; keeping the current one",
          {{"secret", o.secret_name}, {"error", e.what()}});
      return;
    }
    const auto facts = inspect_certificate(state.serving->cert_pem);
    const TimePoint now = std::chrono::system_clock::now();
    // The CA of what we serve: normally `ca`; the others only in odd states.
    std::string ca_fp;
    std::optional<CertFacts> ca_facts;
    for (const std::string* ca : {state.ca ? &state.ca->cert_pem : nullptr,
                                  state.next_ca ? &state.next_ca->cert_pem : nullptr,
                                  state.retired_ca ? &*state.retired_ca : nullptr}) {
      if (ca && certificate_verifies(state.serving->cert_pem, *ca, now)) {
        ca_facts = inspect_certificate(*ca);
        if (ca_facts) ca_fp = ca_facts->fingerprint;
        break;
      }
    }
    {
      std::lock_guard lock(served_mu);
      served_cert_pem = state.serving->cert_pem;
      served_cert_fp = facts ? facts->fingerprint : "";
      served_ca_fp = ca_fp;
    }
    metrics->inc("gtoken_webhook_certificate_reloads_total", {{"result", "ok"}});
    if (facts) {
      metrics->set("gtoken_webhook_certificate_expiry_timestamp_seconds",
                   unix_seconds(facts->not_after), {{"certificate", "serving"}});
    }
    if (ca_facts) {
      metrics->set("gtoken_webhook_certificate_expiry_timestamp_seconds",
                   unix_seconds(ca_facts->not_after), {{"certificate", "ca"}});
    }
    log(kInfo, "serving certificate loaded",
        {{"fingerprint", facts ? facts->fingerprint.substr(0, 16) : ""},
         {"notAfter", facts ? format_time(facts->not_after) : ""},
         {"caFingerprint", ca_fp.substr(0, 16)}});
    report_dirty = true;
    update_readiness();
    poke();
  }

  // --- readiness: can the apiserver verify what we serve? ---
  void update_readiness() {
    std::string why;
    std::string served;
    {
      std::lock_guard lock(served_mu);
      served = served_cert_pem;
    }
    const auto config = configs ? configs->store().get(o.config_name) : nullptr;
    if (served.empty()) {
      why = "no serving certificate loaded yet";
    } else if (!configs || !configs->synced()) {
      why = "webhook configuration not read yet";
    } else if (!config) {
      why = "MutatingWebhookConfiguration " + o.config_name + " not found";
    } else {
      auto bundles = bundles_of(*config);
      const TimePoint now = std::chrono::system_clock::now();
      if (bundles.empty())
        why = "MutatingWebhookConfiguration " + o.config_name + " has no webhooks";
      if (vconfigs && vconfigs->synced()) {
        if (const auto v = vconfigs->store().get(o.config_name)) {
          for (auto& b : bundles_of(*v)) bundles.push_back(std::move(b));
        }
      }
      for (const auto& b : bundles) {
        if (!certificate_verifies(served, join_pem(b), now)) {
          why = "caBundle does not verify the served certificate (yet)";
          break;
        }
      }
    }
    std::lock_guard lock(ready_mu);
    if (why != not_ready) {
      if (why.empty()) {
        log(kInfo, "webhook certificate verifiable by the apiserver");
      } else {
        log(kDebug, "webhook not ready", {{"reason", why}});
      }
    }
    not_ready = why;
  }

  // --- every replica: report what it serves ---
  void report() {
    std::string cert_fp, ca_fp;
    {
      std::lock_guard lock(served_mu);
      cert_fp = served_cert_fp;
      ca_fp = served_ca_fp;
    }
    const json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata",
         {{"name", replica_lease_name(o.identity)},
          {"namespace", o.secret_namespace},
          {"labels", {{kReplicaLabel, "true"}}},
          {"annotations", {{kServingCaAnnotation, ca_fp}, {kServingCertAnnotation, cert_fp}}}}},
        {"spec",
         {{"holderIdentity", o.identity},
          {"leaseDurationSeconds", o.replica_lease_duration.count()},
          {"renewTime", kube::format_micro_time(std::chrono::system_clock::now())}}}};
    // GET + PUT (or create): the Role grants get/create/update on leases,
    // not patch.
    const std::string name = lease["metadata"]["name"];
    try {
      json current = client->get(kube::resources::leases(), o.secret_namespace, name);
      current["metadata"]["labels"][kReplicaLabel] = "true";
      current["metadata"]["annotations"][kServingCaAnnotation] = ca_fp;
      current["metadata"]["annotations"][kServingCertAnnotation] = cert_fp;
      current["metadata"].erase("managedFields");
      current["spec"] = lease["spec"];
      client->update(kube::resources::leases(), o.secret_namespace, current);
    } catch (const kube::ApiError& e) {
      if (!e.is_not_found()) throw;
      client->create(kube::resources::leases(), o.secret_namespace, lease);
    }
    lease_written = true;
  }

  std::vector<ReplicaReport> live_replicas(bool collect_garbage) {
    std::vector<ReplicaReport> out;
    kube::ListOptions lo;
    lo.label_selector = std::string(kReplicaLabel) + "=true";
    const json list = client->list(kube::resources::leases(), o.secret_namespace, lo);
    const TimePoint now = std::chrono::system_clock::now();
    for (const auto& lease : list.value("items", json::array())) {
      const json spec = lease.value("spec", json::object());
      const auto renewed = kube::parse_rfc3339(spec.value("renewTime", ""));
      const auto duration = std::chrono::seconds(spec.value("leaseDurationSeconds", 0));
      if (!renewed) continue;
      if (*renewed + duration > now) {
        const json annotations = lease["metadata"].value("annotations", json::object());
        out.push_back(
            {spec.value("holderIdentity", ""), annotations.value(kServingCaAnnotation, "")});
      } else if (collect_garbage && *renewed + duration * 10 < now) {
        // A replica gone for good (no clean shutdown): forget it.
        try {
          client->remove(kube::resources::leases(), o.secret_namespace,
                         lease["metadata"].value("name", ""));
        } catch (const std::exception&) {
        }
      }
    }
    return out;
  }

  // --- the leader: plan and act; returns when to plan again ---
  Steady::duration plan_and_act() {
    if (!o.manage || !is_leader()) return 2s;
    if (!secrets->synced() || !configs->synced() || !vconfigs->synced()) return 200ms;
    const auto secret = secrets->store().get(o.secret_namespace, o.secret_name);
    const auto config = configs->store().get(o.config_name);
    const auto vconfig = vconfigs->store().get(o.config_name);
    if (!pending_secret_rv.empty() || !pending_config_rv.empty() || !pending_vconfig_rv.empty()) {
      const bool seen =
          (pending_secret_rv.empty() || resource_version(secret) == pending_secret_rv) &&
          (pending_config_rv.empty() || resource_version(config) == pending_config_rv) &&
          (pending_vconfig_rv.empty() || resource_version(vconfig) == pending_vconfig_rv);
      if (!seen && Steady::now() < pending_until) return 50ms;
      pending_secret_rv.clear();
      pending_config_rv.clear();
      pending_vconfig_rv.clear();
    }

    RotationInput in;
    in.state = secret ? cert_state_from_secret(*secret) : CertState{};
    in.now = std::chrono::system_clock::now();
    if (config) {
      // The validating configuration's webhooks count as more webhooks of
      // the same set: the CA is published to both, and the planner waits
      // until both hold it.
      auto bundles = bundles_of(*config);
      if (vconfig) {
        for (auto& b : bundles_of(*vconfig)) bundles.push_back(std::move(b));
      }
      // Webhooks that disagree: an empty view makes the planner publish.
      bool agree = !bundles.empty();
      for (const auto& b : bundles) agree = agree && same_certificates(b, bundles.front());
      in.ca_bundle = agree ? bundles.front() : std::vector<std::string>{};
    }
    if (in.state.retired_ca) in.replicas = live_replicas(true);
    const RotationPlan plan = plan_rotation(in, o.policy);
    if (plan.actions.empty()) {
      const auto wait = plan.next_check - in.now;
      return std::clamp<Steady::duration>(wait, 100ms, 30s);
    }

    CertState next = in.state;
    bool publish = false;
    for (const auto action : plan.actions) {
      if (action == RotationAction::PublishCaBundle) {
        publish = true;
      } else {
        next = apply_rotation(std::move(next), action, o.policy, in.now);
      }
    }
    if (!is_leader()) return 1s;  // lost the lease while creating keys
    for (std::size_t i = 0; i < plan.actions.size(); ++i) {
      metrics->inc("gtoken_webhook_certificate_rotations_total",
                   {{"action", std::string(to_string(plan.actions[i]))}});
      log(kInfo, "certificate action",
          {{"action", std::string(to_string(plan.actions[i]))}, {"why", plan.reasons[i]}});
    }
    pending_until = Steady::now() + 5s;
    if (!(next == in.state)) {
      json written;
      if (secret) {
        written = client->update(kube::resources::secrets(), o.secret_namespace,
                                 cert_secret(o.secret_name, o.secret_namespace, next, *secret));
      } else {
        json fresh = cert_secret(o.secret_name, o.secret_namespace, next);
        fresh["metadata"]["labels"] = {{"app.kubernetes.io/name", "gtoken"},
                                       {"app.kubernetes.io/component", "webhook-certificate"}};
        written = client->create(kube::resources::secrets(), o.secret_namespace, fresh);
      }
      pending_secret_rv = written["metadata"].value("resourceVersion", "");
    }
    if (publish) {
      if (!config) {
        log(kWarn, "cannot publish the CA: MutatingWebhookConfiguration not found",
            {{"name", o.config_name}});
      } else {
        const std::string bundle = base64_encode(join_pem(desired_ca_bundle(next)));
        auto with_bundle = [&bundle](json updated) {
          for (auto& w : updated["webhooks"]) {
            if (!w.is_object()) continue;
            if (!w["clientConfig"].is_object()) w["clientConfig"] = json::object();
            w["clientConfig"]["caBundle"] = bundle;
          }
          updated["metadata"].erase("managedFields");
          return updated;
        };
        // Only what differs is written (a put-back of one configuration
        // leaves the other alone).
        auto differs = [&bundle](const json& c) {
          for (const auto& w : c.value("webhooks", json::array())) {
            if (!w.is_object() || !w.contains("clientConfig") || !w["clientConfig"].is_object() ||
                w["clientConfig"].value("caBundle", "") != bundle) {
              return true;
            }
          }
          return false;
        };
        if (differs(*config)) {
          const json written = client->update(kube::resources::mutating_webhook_configurations(),
                                              "", with_bundle(*config));
          pending_config_rv = written["metadata"].value("resourceVersion", "");
        }
        if (vconfig && differs(*vconfig)) {
          const json written = client->update(kube::resources::validating_webhook_configurations(),
                                              "", with_bundle(*vconfig));
          pending_vconfig_rv = written["metadata"].value("resourceVersion", "");
        }
      }
    }
    return 0s;
  }

  void run() {
    Steady::time_point next_plan{};
    Steady::time_point next_readiness{};
    while (true) {
      {
        std::unique_lock lock(mu);
        if (stopping) return;
      }
      const auto now = Steady::now();
      if (report_dirty.exchange(false) || now >= next_report) {
        try {
          report();
          next_report = now + o.replica_lease_duration / 3;
        } catch (const std::exception& e) {
          report_dirty = true;
          next_report = now + 2s;
          log(kWarn, "cannot write this replica's certificate report", {{"error", e.what()}});
        }
      }
      if (now >= next_readiness) {
        update_readiness();  // certificates also expire without any event
        next_readiness = now + 2s;
      }
      if (now >= next_plan) {
        Steady::duration wait = 2s;
        try {
          wait = plan_and_act();
        } catch (const kube::ApiError& e) {
          // 409: someone (a previous leader) wrote in between; plan again
          // once the informers have it.
          log(e.is_conflict() ? kDebug : kWarn, "certificate write failed", {{"error", e.what()}});
          pending_secret_rv.clear();
          pending_config_rv.clear();
          pending_vconfig_rv.clear();
          wait = e.is_conflict() ? 200ms : 2s;
        } catch (const std::exception& e) {
          log(kWarn, "certificate rotation step failed", {{"error", e.what()}});
          wait = 2s;
        }
        next_plan = Steady::now() + wait;
      }
      const auto until = std::min({next_plan, next_report, next_readiness});
      std::unique_lock lock(mu);
      cv.wait_until(lock, until, [this] { return stopping || wake; });
      if (wake) next_plan = std::min(next_plan, Steady::now());
      wake = false;
    }
  }
};

CertManager::CertManager(CertManagerOptions options, std::shared_ptr<kube::Client> client,
                         std::shared_ptr<kube::Metrics> metrics, std::function<bool()> is_leader,
                         std::function<void(const CertKeyPem&)> load, Logger log)
    : impl_(std::make_unique<Impl>()) {
  impl_->o = std::move(options);
  impl_->client = std::move(client);
  impl_->metrics = std::move(metrics);
  impl_->is_leader = std::move(is_leader);
  impl_->load = std::move(load);
  impl_->logger = std::move(log);
}

CertManager::~CertManager() {
  stop();
}

void CertManager::start() {
  Impl& m = *impl_;
  kube::InformerOptions io;
  io.watcher.log = [&m](const std::string& what) { m.log(kDebug, what); };
  m.secrets = std::make_unique<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(m.client, kube::resources::secrets(),
                                              m.o.secret_namespace, "",
                                              "metadata.name=" + m.o.secret_name),
      io);
  m.secrets->on_add([&m](const json& s) { m.on_secret(s); });
  m.secrets->on_update([&m](const json&, const json& s) { m.on_secret(s); });
  m.secrets->on_delete([&m](const json&) {
    m.log(kWarn, "certificate Secret deleted; serving the last certificate",
          {{"secret", m.o.secret_name}});
    m.poke();
  });
  m.configs = std::make_unique<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(m.client,
                                              kube::resources::mutating_webhook_configurations(),
                                              "", "", "metadata.name=" + m.o.config_name),
      io);
  m.configs->on_change([&m](const std::string&) {
    m.update_readiness();
    m.poke();
  });
  m.vconfigs = std::make_unique<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(m.client,
                                              kube::resources::validating_webhook_configurations(),
                                              "", "", "metadata.name=" + m.o.config_name),
      io);
  m.vconfigs->on_change([&m](const std::string&) {
    m.update_readiness();
    m.poke();
  });
  m.secrets->start();
  m.configs->start();
  m.vconfigs->start();
  m.loop = std::thread([&m] { m.run(); });
}

void CertManager::stop() {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    if (m.stopping) return;
    m.stopping = true;
    m.cv.notify_all();
  }
  if (m.loop.joinable()) m.loop.join();
  if (m.secrets) m.secrets->stop();
  if (m.configs) m.configs->stop();
  if (m.vconfigs) m.vconfigs->stop();
  if (m.lease_written) {
    try {
      m.client->remove(kube::resources::leases(), m.o.secret_namespace,
                       replica_lease_name(m.o.identity));
    } catch (const std::exception&) {
      // Expires by itself.
    }
  }
}

std::string CertManager::not_ready_reason() const {
  std::lock_guard lock(impl_->ready_mu);
  return impl_->not_ready;
}

}  // namespace gtoken::webhook
