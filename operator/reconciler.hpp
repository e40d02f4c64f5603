#pragma once
// The AwsRoleBinding reconciler: level-based and idempotent. Given a binding
// key it reads the world (the binding, its ServiceAccount, the GSA's IAM
// policy) and converges it, recording what it set up in the binding's status
// before acting so a spec change or a delete can undo exactly that.
//
// This is the executor: it reads through KubeIo/GoogleIo
// (operator/reconcile_io.hpp), asks the pure planner
// (operator/reconcile_plan.hpp) what to write, and writes it, checking
// leadership before every write.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "contract/gtoken.hpp"
#include "kube/client.hpp"
#include "kube/clock.hpp"
#include "kube/controller.hpp"
#include "kube/metrics.hpp"
#include "kube/store.hpp"
#include "operator/binding_index.hpp"
#include "operator/aws_io.hpp"
#include "operator/binding_view.hpp"
#include "operator/google.hpp"
#include "operator/pod_index.hpp"
#include "operator/policy_writer.hpp"
#include "operator/reconcile_io.hpp"
#include "operator/reconcile_plan.hpp"
#include "operator/tenancy_gate.hpp"
#include "operator/trust_grants.hpp"
#include "operator/trust_writer.hpp"

namespace gtoken {

// Annotations and labels the controller writes (contract/gtoken.hpp), by
// their short names here.
namespace keys {
inline constexpr const char* kGcpServiceAccount = contract::kGcpServiceAccountAnnotation;
inline constexpr const char* kRoleArn = contract::kRoleArnAnnotation;
inline constexpr const char* kAudience = contract::kAudienceAnnotation;
inline constexpr const char* kRegion = contract::kRegionAnnotation;
inline constexpr const char* kContainers = contract::kContainersAnnotation;
inline constexpr const char* kBinding = contract::kBindingAnnotation;
inline constexpr const char* kCreatedBy = contract::kCreatedByAnnotation;
inline constexpr const char* kManagedByLabel = contract::kManagedByLabel;
inline constexpr const char* kFinalizer = contract::kFinalizer;
}  // namespace keys

struct ReconcilerConfig {
  std::string project;  // Workload Identity pool project (PROJECT.svc.id.goog)
  std::string default_audience = contract::kDefaultAudience;
  // The cluster's ServiceAccount token issuer ("" unknown): --oidc-issuer,
  // or what the apiserver's discovery document says.
  std::string oidc_issuer;
  std::string instance = "gtoken-operator";  // reportingInstance of Events
  std::chrono::seconds resync{300};
  int iam_conflict_retries = 6;
  std::chrono::milliseconds iam_backoff_base{200};
  std::chrono::milliseconds iam_backoff_cap{5000};
  // How long a GSA (uniqueId, disabled) and its IAM policy as last seen are
  // trusted before Google is asked again; capped at half the resync period
  // so each resync still checks Google.
  std::chrono::milliseconds google_cache_ttl{30000};
  std::string agent_container_name = contract::kAgentContainer;  // how injected pods are recognised
  // Read each binding's AWS role (ReconcilerDeps::aws) and report
  // TrustPolicyVerified; when false (or without AWS I/O) the condition is
  // Unverified with `trust_unverified_why` as its message.
  bool verify_trust = false;
  // --aws-trust-policy=apply: also write gtoken's statement into the roles
  // of bindings a trustPolicy: Apply policy allows, only under
  // `trust_role_path` ("" = any path).
  bool apply_trust = false;
  std::string trust_role_path;
  std::string trust_unverified_why = "the operator has no AWS credentials (--aws-credentials)";
};

// Whether an update of a cached binding needs a reconcile: spec
// (generation), deletion, finalizers. Status-only writes (our own) do not.
bool binding_update_needs_reconcile(const nlohmann::json& old_obj, const nlohmann::json& new_obj);

// What the controller's cache keeps of a binding: metadata it decides on,
// spec, status.appliedTargets and the Ready condition's type and reason
// (messages, trust policy and managedFields dropped: most of the bytes).
// When it dropped anything of the status (anything but appliedTargets),
// the result carries kPartialStatus: the reconciler then reads the binding
// live, since a status written from it would lose what was dropped.
nlohmann::json slim_binding(nlohmann::json binding);
inline constexpr const char* kPartialStatus = "gtoken.io/partial-status";
// Whether a cached binding (slim_binding's output) holds all a reconcile
// reads of it: its whole status, and no deletion in progress (finalize
// releases the finalizer with a patch no resourceVersion guards, so it
// decides on a live read).
bool cached_binding_usable(const nlohmann::json& cached);

// The project of a user-managed GSA email (NAME@PROJECT.iam.gserviceaccount.com);
// "" when the email has another form.
std::string gsa_project(const std::string& email);

// Lists the reconciler's metric families (reconciles by result, their
// duration, IAM policy writes) in `metrics`, once per process.
void describe_reconciler_metrics(kube::Metrics& metrics);

// What a Reconciler decides with besides its I/O: the informers' caches,
// the tenancy gate, metrics, leadership and time (all injected so the unit
// tests run every path on a fake clock).
struct ReconcilerDeps {
  // The binding informer's store: a reconcile reads the binding from it (a
  // binding the cache holds only in part, or is deleting, and any key whose
  // last write failed with 409/404/422 are read live). Required.
  std::shared_ptr<const kube::Store> bindings;
  // The ServiceAccount informer's store; null: always read live.
  std::shared_ptr<const kube::Store> service_accounts;
  // Kept by a pod informer, counts the pods missing injection; null: list
  // the ServiceAccount's pods at each reconcile.
  std::shared_ptr<const PodIndex> pods;
  // Kept by the binding informer, finds the bindings of a ServiceAccount;
  // null: scan the namespace's bindings in `bindings`.
  std::shared_ptr<const BindingIndex> index;
  // Decides which bindings may act (tenancy/policy.hpp); null allows none.
  std::shared_ptr<const TenancyGate> gate;
  std::shared_ptr<kube::Metrics> metrics;  // null: none recorded
  // IAM, for the roles' trust policies (verify); unconfigured: Unverified.
  AwsIo aws;
  // Checked before every write.
  std::function<bool()> is_leader = [] { return true; };
  std::shared_ptr<kube::Clock> clock = kube::system_clock();
  kube::Random random = kube::default_random();
};

class Reconciler {
 public:
  // Over HTTP: the apiserver client and Google's IAM API.
  Reconciler(std::shared_ptr<kube::Client> client, std::shared_ptr<IamClient> iam,
             ReconcilerConfig config, ReconcilerDeps deps);
  // The same over any KubeIo and GoogleIo (tests script both).
  Reconciler(std::shared_ptr<KubeIo> io, GoogleIo google, ReconcilerConfig config,
             ReconcilerDeps deps);

  kube::Result reconcile(const std::string& key);

 private:
  kube::Result reconcile_live(BindingView b, bool live);
  // The binding: from the cache when it is usable and `live` is false, else
  // GET (nullopt: gone).
  std::optional<nlohmann::json> read_binding(const std::string& ns, const std::string& name,
                                             bool live);
  // The ServiceAccount a live binding names (null: absent): from the cache
  // unless `live` (a write made on a cached read failed: read it again).
  nlohmann::json read_service_account(const std::string& ns, const std::string& name, bool live);
  // Keys whose last reconcile had a write refused (409 conflict, 404, 422)
  // after deciding on a cached read: their next reconcile reads live.
  bool take_live(const std::string& key);
  void mark_live(const std::string& key);
  kube::Result finalize(const BindingView& b);
  // A binding no policy allows: undo whatever it set up, exactly as on
  // delete, and report NotAllowed.
  kube::Result refuse(const BindingView& b, const tenancy::Verdict& verdict);
  // The binding that may touch ServiceAccount `ksa` (null: none), by
  // ksa_owner() in reconcile_plan.hpp; `sa` is the ServiceAccount as read.
  nlohmann::json ksa_owner(const nlohmann::json& self, const std::string& ksa,
                           const nlohmann::json& sa) const;
  // Creates/annotates the ServiceAccount. `sa` is what was read (null when
  // absent); its resourceVersion guards the write.
  void ensure_service_account(const BindingView& b, Target& t, nlohmann::json sa);
  // Undoes what `t` set up. `still_wanted` is the binding's current target
  // (null on delete): the parts it shares with `t` are left alone.
  // `touch_service_account` is false for a binding in conflict.
  void cleanup_target(const BindingView& b, const Target& t, const Target* still_wanted,
                      bool touch_service_account);
  // cleanup_target() for each of `targets`; those that fail stay in
  // `remaining` and the last failure in `error` (retried next time).
  void cleanup_targets(const BindingView& b, const std::vector<Target>& targets,
                       const Target* still_wanted, bool touch_service_account,
                       std::vector<Target>& remaining, std::string& error);
  WiResult ensure_member(const Target& t, const std::string& ns);
  void remove_member(const Target& t, const std::string& ns);
  // 404/403 under projects/- are ambiguous: ask under the GSA's own project.
  // Returns true only when Google says the GSA does not exist.
  bool gsa_missing(const std::string& email);
  // GET serviceAccounts/EMAIL, through a short-lived cache.
  nlohmann::json service_account(const std::string& email);
  // TrustPolicyVerified for `desired` (unique_id: the GSA's, "" unknown).
  // `note` is appended when the role does not admit the binding.
  TrustCondition check_trust(const BindingView& b, const Target& desired,
                             const std::string& unique_id, const std::string& note = "");
  // Apply: records the binding's grant (none when `may_write` is false),
  // syncs the roles whose statements change, and judges the role as
  // written.
  TrustCondition apply_trust(const BindingView& b, const Target& desired,
                             const std::string& unique_id, bool may_write);
  // The binding wants nothing in any role any more (deleted, refused): the
  // role it wanted and `role_arn` (its spec's) are synced without it.
  // Throws what TrustWriter throws.
  void release_trust(const std::string& key, const std::string& role_arn);
  // TrustWriter::sync of every role in `roles` whose bindings are all known.
  void sync_roles(const std::vector<std::string>& roles);
  // The role's trust policy as IAM holds it, through a short-lived cache
  // (many bindings share a role).
  TrustObservation read_role(const std::string& role_name);
  // Drops the cached read of a role gtoken just synced.
  void forget_role(const std::string& role_arn);
  // Writes the planned status (when changed) and the planned Events.
  void apply_status(const StatusPlan& plan, nlohmann::json& current);
  void event(const nlohmann::json& b, const PlannedEvent& e);
  nlohmann::json write_status(const nlohmann::json& b);
  void check_leader() const;
  // Cached bindings of `ns` that may refer to ServiceAccount `ksa`.
  std::vector<kube::ObjectPtr> candidates(const std::string& ns, const std::string& ksa) const;

  std::shared_ptr<KubeIo> io_;
  GoogleIo google_;
  ReconcilerConfig config_;
  PlanConfig plan_config_;
  std::shared_ptr<const kube::Store> bindings_;
  std::shared_ptr<const kube::Store> service_accounts_;
  std::shared_ptr<const PodIndex> pods_;
  std::shared_ptr<const BindingIndex> index_;
  std::shared_ptr<const TenancyGate> gate_;
  std::shared_ptr<kube::Metrics> metrics_;
  AwsIo aws_;
  std::function<bool()> is_leader_;
  std::shared_ptr<kube::Clock> clock_;
  kube::Random random_;
  std::chrono::milliseconds cache_ttl_;
  std::unique_ptr<PolicyWriter> policies_;
  std::mutex sa_cache_mu_;
  std::map<std::string, std::pair<nlohmann::json, kube::Clock::time_point>> sa_cache_;
  TrustGrants grants_;
  std::unique_ptr<TrustWriter> trust_writer_;
  std::mutex role_cache_mu_;
  std::map<std::string, std::pair<TrustObservation, kube::Clock::time_point>> role_cache_;
  std::mutex live_mu_;
  std::set<std::string> live_keys_;
};

// Thrown when a write is attempted by a replica that no longer holds the lease.
class NotLeader : public std::runtime_error {
 public:
  NotLeader() : std::runtime_error("not the leader") {}
};

}  // namespace gtoken
