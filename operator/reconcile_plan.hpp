#pragma once
// The reconciler's decisions, as pure functions from what was observed (the
// binding, its ServiceAccount or its absence, the bindings that claim that
// ServiceAccount, the tenancy verdict, Google's answer, what cleanup did) to
// what is to be written (finalizer, status, ServiceAccount create/apply/
// patch/delete, IAM member add/remove, Events) and the reconcile's result.
// No IO, no clock, no logging: operator/reconciler.cpp reads, calls these,
// and applies their answers through operator/reconcile_io.hpp.
//
// A reconcile observes in steps (Google is asked only after the
// ServiceAccount is written; the final status depends on what cleanup
// managed), so the plan comes in the same steps: plan_live() before anything
// is acted on, plan_service_account_*() for the ServiceAccount,
// plan_sa_cleanup()/member_kept_by_owner() per earlier target, and
// plan_live_status()/plan_refused_status()/plan_cleanup_stuck() at the end.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kube/controller.hpp"
#include "kube/store.hpp"
#include "operator/binding_view.hpp"
#include "operator/trust_check.hpp"
#include "tenancy/policy.hpp"

namespace gtoken {

struct PlanConfig {
  std::string project;  // Workload Identity pool project
  std::string default_audience;
  std::chrono::seconds resync{300};
  // The cluster's ServiceAccount token issuer (https URL; "" when unknown),
  // for the trust policy of Kubernetes-source bindings.
  std::string oidc_issuer = {};
};

// The annotations a binding wants on its ServiceAccount (without
// gtoken.io/created-by, which only a ServiceAccount gtoken created carries).
nlohmann::json wanted_annotations(const std::string& binding_name, const nlohmann::json& spec,
                                  const std::string& default_audience);

// The annotation keys gtoken writes only when the spec asks for them
// (gtoken.io/region and /containers, and for the Kubernetes source
// eks.amazonaws.com/token-expiration), less `preexisting`: the ones found on
// a hand-annotated ServiceAccount, which stay as found. A binding owns these
// authoritatively: one its spec leaves out is removed.
std::vector<std::string> owned_optional_keys(bool kubernetes,
                                             const std::vector<std::string>& preexisting);
// Those of `b`'s current target (its ServiceAccount and source, as recorded
// in status.appliedTargets).
std::vector<std::string> owned_optional_keys(const BindingView& b);

// True when `annotations` (a ServiceAccount's) already carry everything
// wanted_annotations() asks for and none of the `optional_keys` it leaves out.
bool annotations_match(const nlohmann::json& annotations, const nlohmann::json& want,
                       const std::vector<std::string>& optional_keys);

// metav1.Condition upsert: lastTransitionTime changes only with status.
// Returns true when status, reason or message changed.
bool set_condition(nlohmann::json& conditions, const std::string& type, const std::string& status,
                   const std::string& reason, const std::string& message, int64_t generation,
                   const std::string& now);

// --- Ownership of a ServiceAccount -----------------------------------------

// The gtoken.io/binding annotation of `sa` ("" when absent or null sa);
// `invalid` is set (and "" returned) when it holds no name a binding could
// have (anyone who may edit the ServiceAccount can write it).
std::string recorded_owner(const nlohmann::json& sa, std::string* invalid);

// The bindings that claim ServiceAccount `ksa`: `self` (when it names it and
// is not being deleted) then every other candidate naming it, not being
// deleted and not refused by the tenancy policy.
std::vector<nlohmann::json> claimants(const nlohmann::json& self, const std::string& ksa,
                                      const std::vector<kube::ObjectPtr>& candidates);

// The name of the binding the cache may not know yet and that must be read
// before ownership is decided ("" when none): the recorded owner when it is
// not among the claimants and is not `self`.
std::string owner_to_read(const nlohmann::json& self, const std::vector<nlohmann::json>& claimants,
                          const std::string& recorded);

// The binding that may touch the ServiceAccount (null: none): the recorded
// owner while it claims it (`read_owner`: the binding owner_to_read() named,
// as read; null when absent), else the oldest claimant.
nlohmann::json ksa_owner(const nlohmann::json& self, const std::string& ksa,
                         const std::vector<nlohmann::json>& claimants, const std::string& recorded,
                         const nlohmann::json& read_owner);

// --- A live binding, before acting -----------------------------------------

struct LivePlan {
  std::string owner;  // the ServiceAccount's owner (this binding when none)
  bool conflict = false;
  std::string foreign;  // "key=value" set outside gtoken (a Conflict)
  Target desired;       // what the spec wants, with the preexisting annotations
  // Record, then act: the binding to PUT status with (desired appended to
  // appliedTargets) before the ServiceAccount or Google is touched.
  std::optional<nlohmann::json> record;
  std::vector<Target> applied;  // appliedTargets once `record` is written
};

// `sa` is the ServiceAccount as read (null when absent), `owner` what
// ksa_owner() found.
LivePlan plan_live(const BindingView& b, const nlohmann::json& sa, const nlohmann::json& owner,
                   const PlanConfig& c);

// The ServiceAccount to create when it does not exist: every annotation at
// once plus gtoken.io/created-by and the managed-by label.
nlohmann::json service_account_to_create(const BindingView& b, const std::string& ksa,
                                         const PlanConfig& c);

struct SaApply {
  bool created_by_binding = false;  // gtoken.io/created-by names this binding
  nlohmann::json want;              // the annotations wanted
  // Server-side apply body (with the resourceVersion read): null when the
  // ServiceAccount already carries what is wanted.
  nlohmann::json apply;
  // owned_optional_keys() of the target: removed when `want` leaves them out.
  std::vector<std::string> optional_keys;
};
SaApply plan_service_account_apply(const BindingView& b, const Target& t, const nlohmann::json& sa,
                                   const PlanConfig& c);

// After the apply: a JSON Patch (test + remove) of the optional annotations
// `want` leaves out but `sa` still carries (the apply drops them only when it
// was their sole owner); nullopt when none is left.
std::optional<nlohmann::json> stale_optional_annotations(
    const nlohmann::json& want, const nlohmann::json& sa,
    const std::vector<std::string>& optional_keys);

// --- Undoing a target ------------------------------------------------------

struct SaCleanup {
  bool ours = false;  // the ServiceAccount is still this binding's
  enum class Kind { None, Delete, Patch } kind = Kind::None;
  std::string uid;  // Delete: preconditions (exactly the object read)
  std::string resource_version;
  nlohmann::json patch;  // Patch: JSON Patch of test + remove pairs
};

// What to do to ServiceAccount `sa` (as read; not null) for target `t` of
// binding `name`. `candidates`: cached bindings that may claim it (read only
// when the ownership record was removed by hand).
SaCleanup plan_sa_cleanup(const nlohmann::json& sa, const std::string& name, const Target& t,
                          const std::vector<kube::ObjectPtr>& candidates);

// Whether cleanup of `t` leaves its ServiceAccount alone: the binding goes on
// using it (`still_wanted` names the same one) or is in conflict.
bool cleanup_skips_service_account(const Target& t, const Target* still_wanted,
                                   bool touch_service_account);
// Whether the binding's current target still holds t's IAM member.
bool member_still_wanted(const Target& t, const Target* still_wanted);
// Whether t's member is kept for `owner` (the ServiceAccount's current owner
// by ksa_owner(); null = none): another binding naming the same GSA.
bool member_kept_by_owner(const nlohmann::json& owner, const std::string& self_name,
                          const Target& t, const std::string& project);

// --- Google ----------------------------------------------------------------

struct WiResult {
  bool ok = false;
  std::string reason;
  std::string message;
  std::string unique_id;
};
// serviceAccounts.get answered (`gsa`: the GSA object): disabled, or go on
// and add the member (`ok` false with an empty reason).
WiResult wi_from_gsa(const nlohmann::json& gsa, const std::string& email);
// The member is bound.
WiResult wi_bound(WiResult r, const std::string& member, const std::string& email);
// Google answered an error: `http`, `status` and `what` from GoogleError,
// `gsa_missing`: asked under the GSA's project after a 403, it said 404.
WiResult wi_google_error(int http, const std::string& status, const std::string& what,
                         const std::string& email, bool gsa_missing, WiResult r = {});
WiResult wi_unreachable(const std::string& what, WiResult r = {});

// --- The end of a reconcile ------------------------------------------------

struct PlannedEvent {
  std::string type;  // Normal, Warning
  std::string reason;
  std::string note;
};

struct StatusPlan {
  // The binding to PUT status with; nullopt when the status is unchanged.
  std::optional<nlohmann::json> write;
  std::vector<PlannedEvent> events;  // after the status write, in order
  kube::Result result = kube::Result::ok();
  bool newly_refused = false;  // plan_refused_status: NotAllowed is new
};

struct LiveOutcome {
  WiResult wi;                           // unused while in conflict
  std::vector<Target> remaining;         // appliedTargets after cleanup
  std::string cleanup_error;             // the last cleanup failure ("" none)
  std::vector<std::string> missed_pods;  // pods of the KSA without the agent
  // TrustPolicyVerified as found (operator/trust_check.hpp); nullopt leaves
  // the condition as it is (in conflict nothing is checked). A False one
  // makes Ready False; one turning False from True is a TrustPolicyDrift
  // Event; IamError retries with backoff.
  std::optional<TrustCondition> trust;
};

// `current`: the binding as last written (after `record`), `before`: the
// conditions as first read.
StatusPlan plan_live_status(const nlohmann::json& current, const BindingView& b,
                            const LivePlan& plan, const LiveOutcome& out, const std::string& now,
                            const PlanConfig& c);

StatusPlan plan_refused_status(const BindingView& b, const tenancy::Verdict& verdict,
                               const std::vector<Target>& remaining,
                               const std::string& cleanup_error, const std::string& now,
                               const PlanConfig& c);

// Finalize could not undo everything (`error`): Ready=False CleanupFailed,
// an Event when the reason is new, and an error result (retried).
StatusPlan plan_cleanup_stuck(const BindingView& b, const std::string& error,
                              const std::string& now);

// The events.k8s.io/v1 Event about `binding`.
nlohmann::json event_object(const nlohmann::json& binding, const PlannedEvent& e,
                            const std::string& instance, const std::string& event_time);

// Names of the pods in `pods` (a List) missing the injection of a binding of
// that token source (pod_missing_injection()).
std::vector<std::string> pods_missing_injection(const nlohmann::json& pods,
                                                const std::string& agent_container,
                                                bool kubernetes);

}  // namespace gtoken
