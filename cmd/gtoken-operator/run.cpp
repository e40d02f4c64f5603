#include "cmd/gtoken-operator/run.hpp"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "kube/config.hpp"
#include "kube/controller.hpp"
#include "kube/duration.hpp"
#include "kube/leader.hpp"
#include "kube/log.hpp"
#include "kube/metrics.hpp"
#include "kube/rate_limiter.hpp"
#include "kube/stop_signal.hpp"
#include "kube/watcher.hpp"
#include "aws/iam_client.hpp"
#include "aws/partition.hpp"
#include "operator/aws_credentials.hpp"
#include "operator/aws_io.hpp"
#include "operator/google.hpp"
#include "operator/operator_identity.hpp"
#include "operator/reconciler.hpp"
#include "operator/triggers.hpp"
#include "webhook/options.hpp"
#include "webhook/runtime.hpp"

namespace gtoken {

using json = nlohmann::json;

namespace {

constexpr kube::MetricFamily kLeader{"gtoken_leader", kube::MetricType::gauge,
                                     "1 while this replica leads"};

// The issuer Kubernetes-source bindings' trust policies name: the flag, else
// what the apiserver says it issues tokens as (GKE:
// https://container.googleapis.com/v1/projects/P/locations/L/clusters/C).
// "" when neither gives an https URL: those bindings then carry no trust
// policy and say why.
std::string cluster_oidc_issuer(kube::Client& client, const std::string& flag) {
  auto warn_if_private = [](const std::string& issuer) {
    if (issuer_unreachable_from_aws(issuer)) {
      kube::process_logger().warn(
          "the OIDC issuer's host is a cluster-internal name AWS cannot reach: tokenSource: "
          "Kubernetes bindings will not work until the issuer is public (--oidc-issuer, and the "
          "apiserver's --service-account-issuer/--service-account-jwks-uri)",
          {{"issuer", issuer}});
    }
  };
  if (!flag.empty()) {
    kube::process_logger().info("OIDC issuer for Kubernetes-issued tokens",
                                {{"issuer", flag}, {"from", "--oidc-issuer"}});
    warn_if_private(flag);
    return flag;
  }
  try {
    const json doc = client.oidc_discovery();
    const std::string issuer = doc.value("issuer", "");
    if (valid_oidc_issuer(issuer)) {
      kube::process_logger().info(
          "OIDC issuer for Kubernetes-issued tokens",
          {{"issuer", issuer}, {"from", "/.well-known/openid-configuration"}});
      warn_if_private(issuer);
      return issuer;
    }
    kube::process_logger().warn(
        "the apiserver's ServiceAccount token issuer is not an https URL AWS can trust; "
        "set --oidc-issuer for tokenSource: Kubernetes bindings",
        {{"issuer", issuer}});
  } catch (const std::exception& e) {
    kube::process_logger().warn(
        "cannot read the apiserver's OIDC discovery document; set --oidc-issuer for "
        "tokenSource: Kubernetes bindings",
        {{"error", e.what()}});
  }
  return "";
}

std::string default_identity() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "_" + std::to_string(getpid());
}

json strip_to_metadata(json obj) {
  // ServiceAccounts are cached by every replica: keep what gtoken reads.
  json m = obj.value("metadata", json::object());
  json slim = {{"name", m.value("name", "")},
               {"namespace", m.value("namespace", "")},
               {"uid", m.value("uid", "")},
               {"resourceVersion", m.value("resourceVersion", "")}};
  if (m.contains("annotations")) slim["annotations"] = m["annotations"];
  if (m.contains("deletionTimestamp")) slim["deletionTimestamp"] = m["deletionTimestamp"];
  return {{"metadata", slim}};
}

}  // namespace

int run_operator(const OperatorOptions& o) {
  // Before any thread starts, so every thread inherits the blocked mask and
  // only the main loop's wait takes SIGTERM/SIGINT.
  kube::StopSignal::block_stop_signals(false);
  kube::Logger& log = kube::process_logger();
  log.set_level(o.log_level);
  webhook::WebhookOptions wo;
  std::string ignored;
  webhook::parse_webhook_options(o.webhook_args, wo, ignored);  // checked by main()
  kube::warn_deprecated(log, o.deprecations);
  kube::warn_deprecated(log, wo.deprecations);
  kube::StopSignal signals;

  kube::ClusterConfig cfg;
  try {
    cfg = kube::load_default_config(o.kubeconfig);
  } catch (const std::exception& e) {
    log.error("cannot load Kubernetes config", {{"error", e.what()}});
    return 2;
  }
  std::string own_ns = o.namespace_.empty()
                           ? (cfg.source == "in-cluster" ? cfg.namespace_ : "gtoken-system")
                           : o.namespace_;
  kube::HttpOptions http_opts = kube::http_options(cfg);
  http_opts.user_agent = "gtoken-operator/0.1";  // tells its requests apart in audit logs
  // Each worker holds a connection while it reconciles: keep them all alive.
  http_opts.max_idle_connections = std::max<size_t>(http_opts.max_idle_connections,
                                                    static_cast<size_t>(o.workers) + 4);
  auto http = std::make_shared<kube::HttpClient>(http_opts);
  auto client = std::make_shared<kube::Client>(http, "gtoken-operator");
  auto metrics = std::make_shared<kube::Metrics>();
  describe_reconciler_metrics(*metrics);
  metrics->describe(kLeader);

  std::string identity = o.identity.empty() ? default_identity() : o.identity;
  log.info("starting gtoken-operator",
           {{"kubernetes", cfg.source}, {"namespace", own_ns}, {"identity", identity}});

  std::string project = o.project;
  std::shared_ptr<IamClient> iam;
  if (o.controller) {
    try {
      if (project.empty()) project = metadata_project_id();
      iam = std::make_shared<IamClient>(o.iam_endpoint, default_access_token_source(),
                                        o.iam_read_qps, o.iam_write_qps);
    } catch (const std::exception& e) {
      log.error(
          "cannot set up Google access: pass --project, or run where the metadata "
          "server answers",
          {{"error", e.what()}});
      return 2;
    }
  }

  // The AWS side: the operator's own AWS credentials (fetched on first
  // use) and IAM, to verify the roles' trust policies.
  AwsIo aws;
  bool verify_trust = false;
  std::string trust_unverified_why = "verification is off (--aws-trust-policy=off)";
  if (o.controller && o.aws.trust_policy != TrustPolicyMode::Off) {
    try {
      OperatorAwsCredentials creds =
          operator_aws_credentials(o.aws, aws::process_environment(), kube::system_clock());
      if (creds.source) {
        const auto endpoint = aws::iam_endpoint(o.aws.partition);  // checked by the options
        const std::string url = o.aws.iam_endpoint.empty()
                                    ? "https://" + std::string(endpoint->host)
                                    : o.aws.iam_endpoint;
        aws = aws_io(std::make_shared<aws::IamClient>(url, std::string(endpoint->signing_region),
                                                      creds.source));
        verify_trust = true;
        log.info("verifying AWS trust policies",
                 {{"credentials", creds.description}, {"iam", url}});
      } else {
        trust_unverified_why =
            "the operator has no AWS credentials (see --aws-credentials in docs/reference.md)";
        log.info("no AWS credentials: trust policies are not verified");
      }
    } catch (const std::exception& e) {
      log.error("cannot set up the operator's AWS credentials", {{"error", e.what()}});
      return 2;
    }
  }

  // The GSA the operator acts as: refused to every binding. The controller
  // fails closed without it; a webhook-only replica only loses the early
  // (admission) refusal, which the controller repeats.
  // Read once at start (a changed issuer needs a restart).
  const std::string oidc_issuer =
      o.controller || o.webhook ? cluster_oidc_issuer(*client, o.oidc_issuer) : std::string();
  tenancy::Settings tenancy_settings;
  tenancy_settings.project = project;
  tenancy_settings.default_audience = o.default_audience;
  tenancy_settings.oidc_issuer = oidc_issuer;
  tenancy_settings.operator_gsa = o.operator_gsa;
  if (tenancy_settings.operator_gsa.empty() && (o.controller || o.webhook)) {
    // GKE's metadata server may not know a new pod for its first seconds
    // (documented by Google: retry), so a few attempts over ~15 s before
    // giving up; a stop signal ends the wait.
    std::string last_error;
    const kube::BackoffPolicy retry{std::chrono::milliseconds(500), std::chrono::seconds(8), 2.0,
                                    kube::Jitter::None};
    // Only the controller needs it to start; the webhook alone asks once.
    const int attempts = o.controller ? 6 : 1;
    for (int attempt = 0; attempt < attempts && tenancy_settings.operator_gsa.empty(); ++attempt) {
      try {
        tenancy_settings.operator_gsa = discover_operator_gsa();
      } catch (const std::exception& e) {
        last_error = e.what();
        if (attempt + 1 < attempts) {
          log.warn("cannot read the operator's Google service account yet; retrying",
                   {{"error", last_error}, {"attempt", attempt + 1}});
        }
        const auto delay = kube::backoff_delay(retry, static_cast<unsigned>(attempt), 0);
        if (attempt + 1 < attempts && !signals.wait_for(delay)) {
          log.info("signal received, shutting down", {{"signal", signals.stop_signal_name()}});
          return 0;
        }
      }
    }
    if (tenancy_settings.operator_gsa.empty()) {
      const std::string what = last_error;
      if (o.controller) {
        log.error(
            "cannot tell which Google service account the operator runs as; pass "
            "--operator-gsa",
            {{"error", what}});
        return 2;
      }
      log.warn("operator GSA unknown; admission cannot refuse it early", {{"error", what}});
    }
  }
  if (!tenancy_settings.operator_gsa.empty()) {
    log.info("operator Google service account (refused to bindings)",
             {{"gsa", tenancy_settings.operator_gsa}});
  }

  kube::InformerOptions binding_opts;
  binding_opts.transform = slim_binding;  // the reconciler reads the rest live
  auto bindings = std::make_shared<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(client, kube::resources::aws_role_bindings()),
      binding_opts);

  // The controller (and its queue) exists only while this replica leads.
  std::mutex ctl_mu;
  std::shared_ptr<kube::WorkQueue> queue;
  std::unique_ptr<kube::Controller> controller;
  auto enqueue = [&](const std::string& key) {
    std::lock_guard lock(ctl_mu);
    if (queue) queue->add(key);
  };
  // Which bindings refer to which ServiceAccount, kept before any enqueue.
  auto index = std::make_shared<BindingIndex>();
  // Cluster-scoped AwsRoleBindingPolicies and namespace labels: what the
  // tenancy gate decides on.
  kube::InformerOptions policy_opts;
  policy_opts.transform = kube::strip_managed_fields;
  auto policies = std::make_shared<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(client, kube::resources::aws_role_binding_policies()),
      policy_opts);
  // Namespaces are cached by every replica (the webhook's opt-out label, the
  // policies' selectors): name and labels only.
  kube::InformerOptions ns_opts;
  ns_opts.transform = [](json obj) {
    json m = obj.value("metadata", json::object());
    json slim = {{"name", m.value("name", "")}, {"resourceVersion", m.value("resourceVersion", "")}};
    if (m.contains("labels")) slim["labels"] = m["labels"];
    return json{{"metadata", slim}};
  };
  auto namespaces = std::make_shared<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(client, kube::resources::namespaces()), ns_opts);
  auto gate = std::make_shared<TenancyGate>(tenancy_settings, policies->shared_store(),
                                            namespaces->shared_store(), bindings->shared_store());
  kube::InformerOptions sa_opts;
  sa_opts.transform = strip_to_metadata;
  auto service_accounts = std::make_shared<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(client, kube::resources::service_accounts()),
      sa_opts);

  // Pods, cut down to what podsMissingInjection counts (operator/pod_index.hpp):
  // one watch instead of a pod list per binding and reconcile. Controller only.
  auto pod_index = std::make_shared<PodIndex>();
  kube::InformerOptions pod_opts;
  pod_opts.transform = [agent = std::string(contract::kAgentContainer)](json pod) {
    return slim_pod(pod, agent);
  };
  auto pods = std::make_shared<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(client, kube::resources::pods()), pod_opts);
  pods->on_add([pod_index](const json& p) { pod_index->update(p); });
  pods->on_update([pod_index](const json&, const json& p) { pod_index->update(p); });
  pods->on_delete([pod_index](const json& p) { pod_index->remove(p); });

  // Which event enqueues which binding: operator/triggers.hpp.
  auto triggers = std::make_shared<Triggers>(bindings->shared_store(), index, gate,
                                             o.default_audience, enqueue);
  bindings->on_add([triggers](const json& b) { triggers->binding_added(b); });
  bindings->on_update(
      [triggers](const json& old_b, const json& b) { triggers->binding_updated(old_b, b); });
  bindings->on_delete([triggers](const json& b) { triggers->binding_deleted(b); });
  service_accounts->on_add(
      [triggers](const json& sa) { triggers->service_account_changed(sa, false); });
  service_accounts->on_update(
      [triggers](const json&, const json& sa) { triggers->service_account_changed(sa, false); });
  service_accounts->on_delete(
      [triggers](const json& sa) { triggers->service_account_changed(sa, true); });
  policies->on_change([triggers](const std::string&) { triggers->policy_changed(); });
  namespaces->on_add([triggers](const json& n) { triggers->namespace_added(n); });
  namespaces->on_update(
      [triggers](const json& old_n, const json& n) { triggers->namespace_updated(old_n, n); });

  std::unique_ptr<kube::LeaderElector> elector;
  std::atomic<bool> leading{!o.leader_elect};
  auto is_leader = [&] { return elector ? elector->is_leader() : true; };

  std::shared_ptr<Reconciler> reconciler;
  if (o.controller) {
    ReconcilerConfig rc;
    rc.project = project;
    rc.default_audience = o.default_audience;
    rc.oidc_issuer = oidc_issuer;
    rc.instance = identity;
    rc.resync = o.resync;
    rc.verify_trust = verify_trust;
    rc.apply_trust = verify_trust && o.aws.trust_policy == TrustPolicyMode::Apply;
    rc.trust_role_path = o.aws.iam_role_path;
    rc.trust_unverified_why = trust_unverified_why;
    // The binding and its ServiceAccount are read from these caches; the
    // ServiceAccount informer is started below (the webhook shares it).
    ReconcilerDeps deps;
    deps.bindings = bindings->shared_store();
    deps.service_accounts = service_accounts->shared_store();
    deps.pods = pod_index;
    deps.index = index;
    deps.gate = gate;
    deps.metrics = metrics;
    deps.is_leader = is_leader;
    deps.aws = aws;
    reconciler = std::make_shared<Reconciler>(client, iam, rc, std::move(deps));
    bindings->start();
    pods->start();
  }

  // The webhook (every replica) reads the ServiceAccount, Namespace and
  // policy caches too.
  if (o.controller || o.webhook) {
    service_accounts->start();
    namespaces->start();
    policies->start();
  }

  // The webhook's certificate writes are leader-only as well.
  if ((o.controller || o.webhook) && o.leader_elect) {
    kube::LeaderElectionConfig lc;
    lc.identity = identity;
    lc.lease_name = o.lease_name;
    lc.lease_namespace = own_ns;
    lc.lease_duration = o.lease_duration;
    lc.renew_deadline = o.renew_deadline;
    lc.retry_period = o.retry_period;
    lc.on_started_leading = [&] {
      leading = true;
      signals.wake();
    };
    lc.on_stopped_leading = [&] {
      leading = false;
      signals.wake();
    };
    lc.on_new_leader = [&log](const std::string& who) {
      log.info("leader is", {{"identity", who}});
    };
    lc.log = &log;
    elector = std::make_unique<kube::LeaderElector>(
        std::make_shared<kube::ClientLeaseApi>(client, own_ns, o.lease_name), lc);
    elector->start();
  }

  // --- webhook: every replica serves; certificate writes only while leading ---
  std::unique_ptr<webhook::WebhookRuntime> webhook_runtime;
  if (o.webhook) {
    webhook::RuntimeDeps deps;
    deps.client = client;
    deps.http = kube::http_options(cfg);
    // The live ServiceAccount reads, told apart from the controller's in audit logs.
    deps.http.user_agent = "gtoken-operator/0.1 (webhook)";
    deps.metrics = metrics;
    deps.service_accounts = service_accounts->shared_store();
    // /validate: the same tenancy settings, and the controller's bindings
    // for exclusive GSAs (none on a webhook-only replica).
    deps.tenancy = tenancy_settings;
    deps.namespaces = namespaces->shared_store();
    deps.policies = policies->shared_store();
    if (o.controller) deps.bindings = bindings->shared_store();
    deps.is_leader = is_leader;
    deps.identity = identity;
    deps.operator_namespace = own_ns;
    deps.log = &log;
    webhook_runtime = std::make_unique<webhook::WebhookRuntime>(wo, deps);
    try {
      webhook_runtime->start();
    } catch (const std::exception& e) {
      log.error("cannot start the webhook", {{"error", e.what()}});
      return 2;
    }
  }

  auto start_controller = [&] {
    if (!bindings->wait_synced(std::chrono::seconds(60))) {
      log.warn("AwsRoleBinding cache not synced yet; starting anyway");
    }
    // Before it has listed, the ServiceAccount cache would say "absent" to
    // every reconcile (each then costs a refused create and a live read).
    if (!service_accounts->wait_synced(std::chrono::seconds(60))) {
      log.warn("ServiceAccount cache not synced yet; starting anyway");
    }
    if (!pods->wait_synced(std::chrono::seconds(60))) {
      log.warn("pod cache not synced yet; starting anyway (podsMissingInjection may undercount)");
    }
    std::lock_guard lock(ctl_mu);
    // client-go's controller limiter, but a failing binding (GSA missing,
    // Google down) is retried at least once per resync period.
    auto limiter = kube::default_controller_rate_limiter(
        kube::system_clock(), kube::default_random(),
        std::min<kube::Clock::duration>(std::chrono::seconds(1000), o.resync));
    queue = std::make_shared<kube::WorkQueue>(kube::system_clock(), limiter);
    kube::Controller::Options copts;
    copts.workers = o.workers;
    controller = std::make_unique<kube::Controller>(
        queue, [reconciler](const std::string& key) { return reconciler->reconcile(key); }, copts);
    for (const auto& key : bindings->store().keys()) queue->add(key);
    controller->start();
    metrics->set(kLeader, 1);
    log.info("controller started", {{"bindings", bindings->store().size()}});
  };
  auto stop_controller = [&] {
    std::unique_ptr<kube::Controller> c;
    {
      std::lock_guard lock(ctl_mu);
      c = std::move(controller);
      queue.reset();
    }
    if (c) {
      c->stop();
      metrics->set(kLeader, 0);
      log.info("controller stopped");
    }
  };

  bool running = false;
  bool was_leading = !o.leader_elect;
  while (true) {
    // Woken at once by a leadership change (wake()) or a stop signal.
    if (!signals.wait_for(std::chrono::milliseconds(500))) {
      log.info("signal received, shutting down", {{"signal", signals.stop_signal_name()}});
      break;
    }
    // Told here rather than from the elector's callback: the runtime may not
    // exist yet when the first callback fires.
    if (leading != was_leading) {
      was_leading = leading;
      if (webhook_runtime) webhook_runtime->leadership_changed();
    }
    if (!o.controller) continue;
    if (leading && !running) {
      start_controller();
      running = true;
    } else if (!leading && running) {
      stop_controller();
      running = false;
    }
  }
  // Graceful stop: the controller first and the Lease released, so the
  // other replica leads at once; the webhook keeps answering, reporting not
  // ready, until the Service has dropped this replica (the apiserver does not
  // retry a refused admission call), and only then stops listening.
  stop_controller();
  if (elector) elector->stop();
  if (webhook_runtime) {
    webhook_runtime->begin_drain();
    if (o.shutdown_delay.count() > 0) {
      log.info("draining the webhook before stopping",
               {{"seconds", kube::to_seconds(o.shutdown_delay)}});
      std::this_thread::sleep_for(o.shutdown_delay);
    }
    webhook_runtime->stop();
  }
  service_accounts->stop();
  pods->stop();
  bindings->stop();
  namespaces->stop();
  policies->stop();
  log.info("stopped");
  return 0;
}

}  // namespace gtoken
