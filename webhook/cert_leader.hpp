#pragma once
// The leader's certificate work: one planning turn, run by kube::Controller
// as the reconcile of one key. It reads the Secret and both webhook
// configurations from the informers' caches (and, while a retired CA is
// published, the live replica reports), asks the pure planner
// (webhook/rotation.hpp) what to do, and applies the plan: the Secret first
// (create, or update with its resourceVersion), then the caBundle of each
// configuration that differs, so a CA is never published without its key
// stored. The resourceVersions written are kept (PendingWrites) and no plan
// is made until the caches show them.

#include <functional>
#include <memory>
#include <string>

#include "kube/clock.hpp"
#include "kube/controller.hpp"
#include "kube/log.hpp"
#include "webhook/cert_client.hpp"
#include "webhook/pending_writes.hpp"
#include "webhook/rotation.hpp"

namespace kube {
class Metrics;
}  // namespace kube

namespace gtoken::webhook {

// What the informers hold.
struct CertView {
  bool synced = false;  // all three caches have listed
  std::shared_ptr<const nlohmann::json> secret;
  std::shared_ptr<const nlohmann::json> mutating;
  std::shared_ptr<const nlohmann::json> validating;
};

struct CertLeaderOptions {
  std::string secret_name;
  std::string secret_namespace;
  std::string config_name;  // for logs
  RotationPolicy policy;
};

// Lists CertLeader's metric family (certificate actions by action) in
// `metrics`, once per process.
void describe_cert_leader_metrics(kube::Metrics& metrics);

class CertLeader {
 public:
  CertLeader(CertLeaderOptions options, std::shared_ptr<CertClient> client,
             std::function<CertView()> view, std::function<bool()> is_leader,
             std::shared_ptr<kube::Clock> clock, std::shared_ptr<kube::Metrics> metrics,
             kube::Logger* log);

  // One turn. requeue_after says when to plan again: at once after writes
  // (the next turn waits for the caches), 50 ms while waiting for them, the
  // planner's next_check otherwise (100 ms to 30 s), 2 s on a follower, 200
  // ms after a 409 (someone wrote in between: plan afresh). Other failures
  // are errors (rate-limited retry).
  kube::Result reconcile();

 private:
  CertLeaderOptions o_;
  std::shared_ptr<CertClient> client_;
  std::function<CertView()> view_;
  std::function<bool()> is_leader_;
  std::shared_ptr<kube::Clock> clock_;
  std::shared_ptr<kube::Metrics> metrics_;
  kube::Logger* log_;  // null: no log lines
  PendingWrites pending_;

  kube::Result plan_and_apply();
  std::vector<ReplicaReport> live_replicas(TimePoint now);
  void log(kube::LogLevel level, const std::string& message,
           const nlohmann::json& fields = nlohmann::json::object()) const;
};

}  // namespace gtoken::webhook
