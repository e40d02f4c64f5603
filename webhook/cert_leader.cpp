#include "webhook/cert_leader.hpp"

#include <algorithm>

#include "kube/errors.hpp"
#include "kube/metrics.hpp"
#include "webhook/base64.hpp"
#include "webhook/ca_bundles.hpp"
#include "webhook/replica_report.hpp"

namespace gtoken::webhook {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr kube::MetricFamily kRotations{"gtoken_webhook_certificate_rotations_total",
                                        kube::MetricType::counter,
                                        "certificate actions taken by the leader, by action"};

std::string resource_version(const std::shared_ptr<const json>& obj) {
  if (!obj || !obj->contains("metadata") || !(*obj)["metadata"].is_object()) return {};
  return (*obj)["metadata"].value("resourceVersion", "");
}

std::string resource_version(const json& obj) {
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) return {};
  return obj["metadata"].value("resourceVersion", "");
}

// The caBundle as the planner sees it: the certificates every webhook of
// both configurations holds; empty when they disagree (so the planner
// publishes); nullopt without a MutatingWebhookConfiguration.
std::optional<std::vector<std::string>> stored_ca_bundle(const CertView& view) {
  if (!view.mutating) return std::nullopt;
  // The validating configuration's webhooks count as more webhooks of the
  // same set: the CA is published to both, and the planner waits until both
  // hold it.
  auto bundles = ca_bundles_of(*view.mutating);
  if (view.validating) {
    for (auto& b : ca_bundles_of(*view.validating)) bundles.push_back(std::move(b));
  }
  bool agree = !bundles.empty();
  for (const auto& b : bundles) agree = agree && same_certificates(b, bundles.front());
  return agree ? bundles.front() : std::vector<std::string>{};
}

}  // namespace

void describe_cert_leader_metrics(kube::Metrics& metrics) {
  metrics.describe(kRotations);
}

CertLeader::CertLeader(CertLeaderOptions options, std::shared_ptr<CertClient> client,
                       std::function<CertView()> view, std::function<bool()> is_leader,
                       std::shared_ptr<kube::Clock> clock, std::shared_ptr<kube::Metrics> metrics,
                       kube::Logger* log)
    : o_(std::move(options)),
      client_(std::move(client)),
      view_(std::move(view)),
      is_leader_(std::move(is_leader)),
      clock_(std::move(clock)),
      metrics_(std::move(metrics)),
      log_(log) {}

void CertLeader::log(kube::LogLevel level, const std::string& message, const json& fields) const {
  if (log_) log_->log(level, message, fields);
}

kube::Result CertLeader::reconcile() {
  try {
    return plan_and_apply();
  } catch (const kube::ApiError& e) {
    // 409: someone (a previous leader) wrote in between; plan again once the
    // informers have it. Either way what we wrote may not be what is stored.
    pending_.clear();
    if (e.is_conflict()) {
      log(kube::LogLevel::debug, "certificate write failed", {{"error", e.what()}});
      return kube::Result::requeue_after(200ms);
    }
    log(kube::LogLevel::warn, "certificate write failed", {{"error", e.what()}});
    return kube::Result::error(e.what());
  } catch (const std::exception& e) {
    log(kube::LogLevel::warn, "certificate rotation step failed", {{"error", e.what()}});
    return kube::Result::error(e.what());
  }
}

std::vector<ReplicaReport> CertLeader::live_replicas(TimePoint now) {
  const ReplicaReports reports =
      read_replica_reports(client_->list_leases(std::string(kReplicaLabel) + "=true"), now);
  for (const auto& name : reports.long_expired) {
    // A replica gone for good (no clean shutdown): forget it.
    try {
      client_->delete_lease(name);
    } catch (const std::exception&) {
      // Tried again at the next plan.
    }
  }
  return reports.live;
}

kube::Result CertLeader::plan_and_apply() {
  if (!is_leader_()) return kube::Result::requeue_after(2s);
  const CertView view = view_();
  if (!view.synced) return kube::Result::requeue_after(200ms);
  const TimePoint now = clock_->now();
  if (!pending_.settled({resource_version(view.secret), resource_version(view.mutating),
                         resource_version(view.validating)},
                        now)) {
    return kube::Result::requeue_after(50ms);
  }

  RotationInput in;
  in.state = view.secret ? cert_state_from_secret(*view.secret) : CertState{};
  in.now = now;
  in.ca_bundle = stored_ca_bundle(view);
  if (in.state.retired_ca) in.replicas = live_replicas(now);
  const RotationPlan plan = plan_rotation(in, o_.policy);
  if (plan.actions.empty()) {
    return kube::Result::requeue_after(
        std::clamp<kube::Clock::duration>(plan.next_check - now, 100ms, 30s));
  }

  CertState next = in.state;
  bool publish = false;
  for (const auto action : plan.actions) {
    if (action == RotationAction::PublishCaBundle) {
      publish = true;
    } else {
      next = apply_rotation(std::move(next), action, o_.policy, now);
    }
  }
  if (!is_leader_()) return kube::Result::requeue_after(1s);  // lost the Lease while making keys
  for (std::size_t i = 0; i < plan.actions.size(); ++i) {
    metrics_->inc(kRotations, {{"action", std::string(to_string(plan.actions[i]))}});
    log(kube::LogLevel::info, "certificate action",
        {{"action", std::string(to_string(plan.actions[i]))}, {"why", plan.reasons[i]}});
  }

  // The Secret first: a CA is never published without its key stored.
  if (!(next == in.state)) {
    json written;
    if (view.secret) {
      written = client_->update_secret(
          cert_secret(o_.secret_name, o_.secret_namespace, next, *view.secret));
    } else {
      json fresh = cert_secret(o_.secret_name, o_.secret_namespace, next);
      fresh["metadata"]["labels"] = {{"app.kubernetes.io/name", "gtoken"},
                                     {"app.kubernetes.io/component", "webhook-certificate"}};
      written = client_->create_secret(fresh);
    }
    pending_.wrote(PendingWrites::kSecret, resource_version(written), now);
  }
  if (publish) {
    if (!view.mutating) {
      log(kube::LogLevel::warn, "cannot publish the CA: MutatingWebhookConfiguration not found",
          {{"name", o_.config_name}});
    } else {
      const std::string bundle = base64_encode(join_pem(desired_ca_bundle(next)));
      // Only what differs is written (a put-back of one configuration leaves
      // the other alone).
      if (ca_bundle_differs(*view.mutating, bundle)) {
        const json written = client_->update_config(WebhookConfigKind::Mutating,
                                                    with_ca_bundle(*view.mutating, bundle));
        pending_.wrote(PendingWrites::kMutating, resource_version(written), now);
      }
      if (view.validating && ca_bundle_differs(*view.validating, bundle)) {
        const json written = client_->update_config(WebhookConfigKind::Validating,
                                                    with_ca_bundle(*view.validating, bundle));
        pending_.wrote(PendingWrites::kValidating, resource_version(written), now);
      }
    }
  }
  return kube::Result::requeue_after(0s);
}

}  // namespace gtoken::webhook
