#include "operator/reconcile_plan.hpp"

#include <algorithm>

#include "contract/gtoken.hpp"
#include "kube/json_pointer.hpp"
#include "kube/names.hpp"
#include "operator/pod_index.hpp"
#include "operator/policy.hpp"
#include "operator/tenancy_gate.hpp"

namespace gtoken {

using json = nlohmann::json;

namespace {

constexpr const char* kSaReady = contract::kConditionServiceAccountReady;
constexpr const char* kWiReady = contract::kConditionWorkloadIdentityReady;
constexpr const char* kReady = contract::kConditionReady;
constexpr const char* kTrust = contract::kConditionTrustPolicyVerified;
constexpr const char* kGcpServiceAccount = contract::kGcpServiceAccountAnnotation;
constexpr const char* kRoleArn = contract::kRoleArnAnnotation;
constexpr const char* kAudience = contract::kAudienceAnnotation;
constexpr const char* kRegion = contract::kRegionAnnotation;
constexpr const char* kContainers = contract::kContainersAnnotation;
constexpr const char* kBinding = contract::kBindingAnnotation;
constexpr const char* kCreatedBy = contract::kCreatedByAnnotation;
constexpr const char* kEksRoleArn = contract::kEksRoleArnAnnotation;
constexpr const char* kEksAudience = contract::kEksAudienceAnnotation;
constexpr const char* kEksExpiration = contract::kEksTokenExpirationAnnotation;

const json& annotations_of(const json& obj) {
  static const json empty = json::object();
  if (obj.is_object() && obj.contains("metadata") && obj["metadata"].contains("annotations") &&
      obj["metadata"]["annotations"].is_object()) {
    return obj["metadata"]["annotations"];
  }
  return empty;
}

std::string annotation(const json& obj, const std::string& key) {
  const json& a = annotations_of(obj);
  auto it = a.find(key);
  return it != a.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string name_of(const json& o) {
  return o["metadata"].value("name", "");
}

// `o` claims ServiceAccount `ksa`. A binding the policy refused claims
// nothing: it must not keep an allowed one in Conflict.
bool claims(const json& o, const std::string& ksa, const std::string& self_name) {
  return !o["metadata"].contains("deletionTimestamp") && o.contains("spec") &&
         o["spec"].value("serviceAccountName", "") == ksa &&
         (name_of(o) == self_name || !recorded_not_allowed(o));
}

const json* find_condition(const json& conditions, const std::string& type) {
  if (!conditions.is_array()) return nullptr;
  for (const auto& c : conditions) {
    if (c.value("type", "") == type) return &c;
  }
  return nullptr;
}

// An Event each time Ready changes status or reason (Ready carries the
// reason of whichever part is not ready, so this covers every condition).
// A binding's first Ready=True is none: nobody was told anything it changes,
// and the status (with lastTransitionTime) already says it; a first
// Ready=False is a Warning.
void ready_event(const json& before, const json& conditions, std::vector<PlannedEvent>& events) {
  const json* was = find_condition(before, kReady);
  const json* is = find_condition(conditions, kReady);
  if (is && !was && is->value("status", "") == "True") return;
  if (is && (!was || was->value("status", "") != is->value("status", "") ||
             was->value("reason", "") != is->value("reason", ""))) {
    events.push_back({is->value("status", "") == "True" ? "Normal" : "Warning",
                      is->value("reason", ""), is->value("message", "")});
  }
}

json targets_json(const std::vector<Target>& targets) {
  json out = json::array();
  for (const auto& t : targets) out.push_back(t.to_json());
  return out;
}

void test_and_remove(json& patch, const std::string& key, const json& value) {
  std::string path = "/metadata/annotations/" + kube::json_pointer_escape(key);
  patch.push_back({{"op", "test"}, {"path", path}, {"value", value}});
  patch.push_back({{"op", "remove"}, {"path", path}});
}

}  // namespace

std::vector<std::string> owned_optional_keys(bool kubernetes,
                                             const std::vector<std::string>& preexisting) {
  std::vector<std::string> keys = {kRegion, kContainers};
  if (kubernetes) keys.push_back(kEksExpiration);
  std::erase_if(keys, [&](const std::string& k) {
    return std::find(preexisting.begin(), preexisting.end(), k) != preexisting.end();
  });
  return keys;
}

std::vector<std::string> owned_optional_keys(const BindingView& b) {
  for (const Target& t : b.applied) {
    if (t.ksa == b.ksa && t.kubernetes() == b.kubernetes) {
      return owned_optional_keys(b.kubernetes, t.preexisting);
    }
  }
  return owned_optional_keys(b.kubernetes, {});
}

bool set_condition(json& conditions, const std::string& type, const std::string& status,
                   const std::string& reason, const std::string& message, int64_t generation,
                   const std::string& now) {
  if (!conditions.is_array()) conditions = json::array();
  for (auto& c : conditions) {
    if (c.value("type", "") != type) continue;
    bool changed = c.value("status", "") != status || c.value("reason", "") != reason ||
                   c.value("message", "") != message;
    if (c.value("status", "") != status) c["lastTransitionTime"] = now;
    c["status"] = status;
    c["reason"] = reason;
    c["message"] = message;
    c["observedGeneration"] = generation;
    return changed;
  }
  conditions.push_back({{"type", type},
                        {"status", status},
                        {"reason", reason},
                        {"message", message},
                        {"observedGeneration", generation},
                        {"lastTransitionTime", now}});
  return true;
}

json wanted_annotations(const std::string& binding_name, const json& spec,
                        const std::string& default_audience) {
  const std::string audience = binding_audience(spec, default_audience);
  json want;
  if (kubernetes_source(spec)) {
    // The EKS webhook's annotations: gtoken's webhook injects the projected
    // token from them (as it does for a ServiceAccount annotated by hand).
    want = {{kEksRoleArn, spec.value("awsRoleArn", "")},
            {kBinding, binding_name},
            {kEksAudience, audience}};
    if (spec.contains("tokenExpirationSeconds") && spec["tokenExpirationSeconds"].is_number_integer()) {
      want[kEksExpiration] = std::to_string(spec["tokenExpirationSeconds"].get<int64_t>());
    }
  } else {
    want = {{kGcpServiceAccount, spec.value("gcpServiceAccount", "")},
            {kRoleArn, spec.value("awsRoleArn", "")},
            {kBinding, binding_name},
            {kAudience, audience}};
  }
  if (spec.contains("region") && spec["region"].is_string() &&
      !spec["region"].get<std::string>().empty()) {
    want[kRegion] = spec["region"];
  }
  if (spec.contains("containers") && spec["containers"].is_array() && !spec["containers"].empty()) {
    want[kContainers] = join(spec["containers"].get<std::vector<std::string>>(), ",");
  }
  return want;
}

bool annotations_match(const json& annotations, const json& want,
                       const std::vector<std::string>& optional_keys) {
  const json& have = annotations.is_object() ? annotations : json::object();
  for (const auto& [k, v] : want.items()) {
    auto it = have.find(k);
    if (it == have.end() || *it != v) return false;
  }
  // Optional annotations this binding no longer asks for must go too.
  for (const std::string& k : optional_keys) {
    if (have.contains(k) && !want.contains(k)) return false;
  }
  return true;
}

std::string recorded_owner(const json& sa, std::string* invalid) {
  std::string recorded = sa.is_object() ? annotation(sa, kBinding) : "";
  if (!recorded.empty() && !kube::is_dns1123_subdomain(recorded)) {
    if (invalid) *invalid = recorded;
    return "";
  }
  return recorded;
}

std::vector<json> claimants(const json& self, const std::string& ksa,
                            const std::vector<kube::ObjectPtr>& candidates) {
  const std::string self_name = name_of(self);
  std::vector<json> out;
  if (claims(self, ksa, self_name)) out.push_back(self);
  for (const auto& obj : candidates) {
    const json& o = *obj;
    if (name_of(o) != self_name && claims(o, ksa, self_name)) out.push_back(o);
  }
  return out;
}

std::string owner_to_read(const json& self, const std::vector<json>& claimants,
                          const std::string& recorded) {
  if (recorded.empty() || recorded == name_of(self)) return "";
  for (const auto& c : claimants) {
    if (name_of(c) == recorded) return "";
  }
  // The cache may not have caught up with a binding created a moment ago:
  // ask the apiserver before taking the ServiceAccount from it.
  return recorded;
}

json ksa_owner(const json& self, const std::string& ksa, const std::vector<json>& claimants,
               const std::string& recorded, const json& read_owner) {
  if (!recorded.empty()) {
    for (const auto& c : claimants) {
      if (name_of(c) == recorded) return c;
    }
    if (recorded != name_of(self) && read_owner.is_object() &&
        claims(read_owner, ksa, name_of(self))) {
      return read_owner;
    }
  }
  if (claimants.empty()) return nullptr;
  auto older = [](const json& a, const json& b) {
    auto ta = a["metadata"].value("creationTimestamp", "");
    auto tb = b["metadata"].value("creationTimestamp", "");
    if (ta != tb) return ta < tb;  // RFC 3339 UTC strings sort by time
    return name_of(a) < name_of(b);
  };
  return *std::min_element(claimants.begin(), claimants.end(), older);
}

LivePlan plan_live(const BindingView& b, const json& sa, const json& owner, const PlanConfig& c) {
  LivePlan p;
  p.desired = b.kubernetes
                  ? Target{b.ksa, "", b.role_arn, "", false, {}, contract::kTokenSourceKubernetes}
                  : Target{b.ksa, b.gsa, b.role_arn, c.project, false, {}, ""};
  p.applied = b.applied;
  // Two bindings naming one ServiceAccount: only its owner touches it.
  p.owner = owner.is_null() ? b.name : name_of(owner);
  p.conflict = p.owner != b.name;
  // A ServiceAccount annotated outside gtoken (no gtoken.io/binding, not
  // created by this binding) with another GSA or role is someone else's:
  // never overwritten. The same values are adopted and left as found.
  const bool hand_annotated =
      sa.is_object() && annotation(sa, kBinding).empty() && annotation(sa, kCreatedBy) != b.name;
  if (!p.conflict && hand_annotated) {
    // This source's keys with another value, and any role key of the other
    // source: a ServiceAccount set up by hand for the other token source
    // would either win over this binding in the webhook (a GSA makes the
    // Google source win) or be silently overridden by it.
    std::vector<std::pair<std::string, std::string>> owned_keys;
    if (b.kubernetes) {
      owned_keys = {{kEksRoleArn, p.desired.role_arn}, {kGcpServiceAccount, ""}, {kRoleArn, ""}};
    } else {
      owned_keys = {{kGcpServiceAccount, p.desired.gsa}, {kRoleArn, p.desired.role_arn},
                    {kEksRoleArn, ""}};
    }
    for (const auto& [key, value] : owned_keys) {
      const std::string current = annotation(sa, key);
      if (!current.empty() && current != value) {
        p.foreign = key + "=" + current;
        break;
      }
    }
  }
  if (!p.foreign.empty()) p.conflict = true;

  // Record the intent before acting, so a crash or a later change can undo it.
  auto recorded_target = std::find_if(p.applied.begin(), p.applied.end(),
                                      [&](const Target& t) { return t.same_as(p.desired); });
  const bool recorded = recorded_target != p.applied.end();
  // What was found on the ServiceAccount when it was recorded stays found.
  if (recorded) p.desired.preexisting = recorded_target->preexisting;
  if (!recorded && !p.conflict) {
    if (hand_annotated) {
      const json want = wanted_annotations(b.name, b.spec, c.default_audience);
      for (const auto& [key, value] : want.items()) {
        if (value.is_string() && annotation(sa, key) == value.get<std::string>()) {
          p.desired.preexisting.push_back(key);
        }
      }
      // Optional keys set by hand that the spec does not ask for (e.g. a
      // token expiration): left as found, never removed as stale.
      for (const std::string& key : owned_optional_keys(b.kubernetes, {})) {
        if (!want.contains(key) && !annotation(sa, key).empty()) {
          p.desired.preexisting.push_back(key);
        }
      }
    }
    p.applied.push_back(p.desired);
    json obj = b.object;
    obj["status"] = b.status;
    obj["status"]["appliedTargets"] = targets_json(p.applied);
    p.record = std::move(obj);
  }
  return p;
}

json service_account_to_create(const BindingView& b, const std::string& ksa, const PlanConfig& c) {
  json annotations = wanted_annotations(b.name, b.spec, c.default_audience);
  annotations[kCreatedBy] = b.name;
  return {{"apiVersion", "v1"},
          {"kind", "ServiceAccount"},
          {"metadata",
           {{"name", ksa},
            {"namespace", b.ns},
            {"labels", {{contract::kManagedByLabel, "gtoken"}}},
            {"annotations", annotations}}}};
}

SaApply plan_service_account_apply(const BindingView& b, const Target& t, const json& sa,
                                   const PlanConfig& c) {
  SaApply a;
  a.want = wanted_annotations(b.name, b.spec, c.default_audience);
  a.created_by_binding = annotation(sa, kCreatedBy) == b.name;
  if (a.created_by_binding) a.want[kCreatedBy] = b.name;
  a.optional_keys = owned_optional_keys(b.kubernetes, t.preexisting);
  if (annotations_match(annotations_of(sa), a.want, a.optional_keys)) return a;
  // Server-side apply under gtoken's field manager: other annotations and
  // labels stay as they are. The resourceVersion makes it conditional on the
  // state the ownership decision was made on (409 = someone changed it:
  // start over).
  a.apply = {{"apiVersion", "v1"},
             {"kind", "ServiceAccount"},
             {"metadata",
              {{"name", t.ksa},
               {"namespace", b.ns},
               {"resourceVersion", sa["metadata"].value("resourceVersion", "")},
               {"annotations", a.want}}}};
  return a;
}

std::optional<json> stale_optional_annotations(const json& want, const json& sa,
                                               const std::vector<std::string>& optional_keys) {
  // The apply drops them only when gtoken's apply was their sole owner (not
  // when they came with the create, or someone else set the same value).
  json patch = json::array();
  for (const std::string& k : optional_keys) {
    if (want.contains(k) || !annotations_of(sa).contains(k)) continue;
    test_and_remove(patch, k, annotations_of(sa)[k]);
  }
  if (patch.empty()) return std::nullopt;
  return patch;
}

bool cleanup_skips_service_account(const Target& t, const Target* still_wanted,
                                   bool touch_service_account) {
  return !touch_service_account || (still_wanted && still_wanted->ksa == t.ksa);
}

bool member_still_wanted(const Target& t, const Target* still_wanted) {
  return still_wanted && still_wanted->ksa == t.ksa && still_wanted->gsa == t.gsa &&
         still_wanted->project == t.project;
}

bool member_kept_by_owner(const json& owner, const std::string& self_name, const Target& t,
                          const std::string& project) {
  // Decided by ownership, not by who merely names the ServiceAccount: a
  // binding waiting in Conflict does not keep a member alive, and one about
  // to take the ServiceAccount over (not reconciled yet) does.
  if (owner.is_null() || name_of(owner) == self_name) return false;
  return owner["spec"].value("gcpServiceAccount", "") == t.gsa && project == t.project;
}

SaCleanup plan_sa_cleanup(const json& sa, const std::string& name, const Target& t,
                          const std::vector<kube::ObjectPtr>& candidates) {
  SaCleanup out;
  std::string owner = annotation(sa, kBinding);
  std::string creator = annotation(sa, kCreatedBy);
  out.ours = owner == name;
  if (owner.empty() && creator == name) {
    // Created by this binding but the record of ownership was removed by
    // hand: still ours unless another binding claims the ServiceAccount.
    out.ours = true;
    for (const auto& obj : candidates) {
      const json& o = *obj;
      if (name_of(o) != name && !o["metadata"].contains("deletionTimestamp") &&
          o.contains("spec") && o["spec"].value("serviceAccountName", "") == t.ksa) {
        out.ours = false;
      }
    }
  }
  if (!out.ours) return out;
  if (creator == name) {
    // Preconditions: exactly the object read, so a ServiceAccount another
    // binding took over (or someone recreated) in between is not deleted.
    out.kind = SaCleanup::Kind::Delete;
    out.uid = sa["metadata"].value("uid", "");
    out.resource_version = sa["metadata"].value("resourceVersion", "");
    return out;
  }
  // Remove each of gtoken's annotations only while it still holds the value
  // gtoken set: a value someone changed by hand is theirs now. The first
  // test keeps this from undoing another binding that took the
  // ServiceAccount over since it was read.
  json patch = json::array();
  if (!owner.empty()) {
    patch.push_back({{"op", "test"},
                     {"path", "/metadata/annotations/" + kube::json_pointer_escape(kBinding)},
                     {"value", owner}});
  }
  bool removes = false;
  auto drop_if = [&](const std::string& key, const std::string& value) {
    if (value.empty() || annotation(sa, key) != value) return;
    // It was there before gtoken came: not gtoken's to remove.
    if (std::find(t.preexisting.begin(), t.preexisting.end(), key) != t.preexisting.end()) return;
    test_and_remove(patch, key, value);
    removes = true;
  };
  if (t.kubernetes()) {
    drop_if(kEksRoleArn, t.role_arn);
    for (const char* k : {kBinding, kEksAudience, kEksExpiration, kRegion, kContainers}) {
      drop_if(k, annotation(sa, k));
    }
  } else {
    drop_if(kGcpServiceAccount, t.gsa);
    drop_if(kRoleArn, t.role_arn);
    for (const char* k : {kBinding, kAudience, kRegion, kContainers}) drop_if(k, annotation(sa, k));
  }
  if (removes) {
    out.kind = SaCleanup::Kind::Patch;
    out.patch = std::move(patch);
  }
  return out;
}

WiResult wi_from_gsa(const json& gsa, const std::string& email) {
  WiResult r;
  r.unique_id = gsa.value("uniqueId", "");
  if (gsa.value("disabled", false)) {
    r.reason = "GcpServiceAccountDisabled";
    r.message = "Google service account " + email +
                " is disabled, so it cannot mint tokens: enable it (gcloud iam "
                "service-accounts enable " +
                email + ")";
  }
  return r;
}

WiResult wi_bound(WiResult r, const std::string& member, const std::string& email) {
  r.ok = true;
  r.reason = "MemberBound";
  r.message = member + " holds " + kWorkloadIdentityUserRole + " on " + email;
  return r;
}

WiResult wi_google_error(int http, const std::string& status, const std::string& what,
                         const std::string& email, bool gsa_missing, WiResult r) {
  r.ok = false;
  const bool aborted = http == 409 || status == "ABORTED";
  if (http == 401) {
    r.reason = "GoogleAuthFailed";
    r.message =
        "the operator has no working Google credentials (metadata server "
        "or GOOGLE_APPLICATION_CREDENTIALS): " +
        what;
  } else if (http == 404 || (http == 403 && gsa_missing)) {
    r.reason = "GcpServiceAccountNotFound";
    r.message = "Google service account " + email +
                " does not exist: create it (gcloud iam service-accounts create) or fix "
                "spec.gcpServiceAccount";
  } else if (http == 403) {
    r.reason = "PermissionDenied";
    r.message = "Google denied access to " + email +
                " (or it does not exist): give the operator's Google identity "
                "roles/iam.serviceAccountAdmin on it, or fix spec.gcpServiceAccount. " +
                what;
  } else if (aborted) {
    r.reason = "ConcurrentPolicyChange";
    r.message = "the IAM policy of " + email + " kept changing concurrently; retrying. " + what;
  } else {
    r.reason = "GoogleApiError";
    r.message = "Google IAM API call failed; retrying: " + what;
  }
  return r;
}

WiResult wi_unreachable(const std::string& what, WiResult r) {
  r.ok = false;
  r.reason = "GoogleApiUnreachable";
  r.message = "cannot reach the Google IAM API; retrying: " + what;
  return r;
}

StatusPlan plan_live_status(const json& current, const BindingView& b, const LivePlan& plan,
                            const LiveOutcome& out, const std::string& now, const PlanConfig& c) {
  StatusPlan sp;
  const Target& desired = plan.desired;
  const WiResult& wi = out.wi;
  json conditions = b.conditions;
  const int64_t generation = b.generation;
  if (plan.conflict) {
    std::string msg =
        plan.foreign.empty()
            ? "ServiceAccount " + desired.ksa + " is already bound by AwsRoleBinding " +
                  plan.owner +
                  "; delete one of the two bindings or point this one at another ServiceAccount"
            : "ServiceAccount " + desired.ksa + " already carries " + plan.foreign +
                  ", set outside gtoken, which gtoken never overwrites: remove that annotation "
                  "or point this binding at another ServiceAccount";
    set_condition(conditions, kSaReady, "False", contract::kReasonConflict, msg, generation, now);
    if (!b.kubernetes) {
      set_condition(conditions, kWiReady, "Unknown", contract::kReasonConflict,
                    "not reconciled while in conflict", generation, now);
    }
    set_condition(conditions, kReady, "False", contract::kReasonConflict, msg, generation, now);
  } else if (b.kubernetes) {
    // Nothing on Google: the ServiceAccount's annotations are the whole
    // setup (the webhook projects the token; AWS trusts the issuer).
    set_condition(conditions, kSaReady, "True", "Annotated",
                  "ServiceAccount " + desired.ksa + " carries " + kEksRoleArn + " and " +
                      kEksAudience,
                  generation, now);
    if (!out.cleanup_error.empty()) {
      set_condition(conditions, kReady, "False", "CleanupFailed",
                    "the new setup is in place, but " + out.cleanup_error, generation, now);
    } else {
      set_condition(conditions, kReady, "True", "Ready",
                    "pods of ServiceAccount " + desired.ksa + " can assume " + desired.role_arn +
                        " with Kubernetes-issued tokens once AWS trusts the cluster's issuer " +
                        (c.oidc_issuer.empty() ? std::string("(unknown to the operator: set --oidc-issuer)")
                                               : c.oidc_issuer) +
                        " (status.awsOidcProviderCommand) and the role's trust policy is "
                        "status.awsTrustPolicy",
                    generation, now);
    }
  } else {
    set_condition(
        conditions, kSaReady, "True", "Annotated",
        "ServiceAccount " + desired.ksa + " carries " + kGcpServiceAccount + " and " + kRoleArn,
        generation, now);
    set_condition(conditions, kWiReady, wi.ok ? "True" : "False", wi.reason, wi.message, generation,
                  now);
    if (!wi.ok) {
      set_condition(conditions, kReady, "False", wi.reason, wi.message, generation, now);
    } else if (!out.cleanup_error.empty()) {
      set_condition(conditions, kReady, "False", "CleanupFailed",
                    "the new setup is in place, but " + out.cleanup_error, generation, now);
    } else {
      set_condition(conditions, kReady, "True", "Ready",
                    "pods of ServiceAccount " + desired.ksa + " can assume " + desired.role_arn +
                        " once the role's trust policy is status.awsTrustPolicy",
                    generation, now);
    }
  }

  if (!plan.conflict && out.trust) {
    const TrustCondition& t = *out.trust;
    set_condition(conditions, kTrust, t.status, t.reason, t.message, generation, now);
    const json* ready = find_condition(conditions, kReady);
    if (t.failing() && ready && ready->value("status", "") == "True") {
      set_condition(conditions, kReady, "False", t.reason, t.message, generation, now);
    }
    const json* was = find_condition(b.conditions, kTrust);
    if (t.failing() && was && was->value("status", "") == "True") {
      sp.events.push_back({"Warning", trust_reason::kDriftEvent,
                           "the trust policy of " + desired.role_arn +
                               " no longer admits this binding's tokens: " + t.message});
    }
  }

  const json old_status = current.value("status", json::object());
  json st = old_status;
  const int previous_missed = st.value("podsMissingInjection", 0);
  st["observedGeneration"] = generation;
  st["conditions"] = conditions;
  st["appliedTargets"] = targets_json(out.remaining);
  if (!plan.conflict) {
    if (b.kubernetes) {
      st.erase("workloadIdentityMember");
    } else {
      st["workloadIdentityMember"] = workload_identity_member(desired.project, b.ns, desired.ksa);
    }
    st["podsMissingInjection"] = static_cast<int>(out.missed_pods.size());
  } else {
    st.erase("workloadIdentityMember");
    st.erase("podsMissingInjection");
  }
  for (const char* k : {"oidcIssuer", "awsOidcProviderArn", "awsOidcProviderCommand"}) st.erase(k);
  // The uniqueId and trust policy always describe the GSA the spec names:
  // dropped when it could not be read. For the Kubernetes source they
  // describe the issuer, dropped while it is unknown.
  const std::string provider_arn =
      b.kubernetes ? oidc_provider_arn(c.oidc_issuer, desired.role_arn) : "";
  if (b.kubernetes) {
    st.erase("gcpServiceAccountUniqueId");
    st.erase("awsTrustPolicy");
    if (!plan.conflict && !provider_arn.empty()) {
      st["oidcIssuer"] = c.oidc_issuer;
      st["awsOidcProviderArn"] = provider_arn;
      st["awsOidcProviderCommand"] = oidc_provider_command(c.oidc_issuer, b.audience);
      st["awsTrustPolicy"] = aws_oidc_trust_policy(provider_arn, oidc_provider_path(c.oidc_issuer),
                                                   b.ns, desired.ksa, b.audience)
                                 .dump(2);
    }
  } else if (!plan.conflict && !wi.unique_id.empty()) {
    st["gcpServiceAccountUniqueId"] = wi.unique_id;
    st["awsTrustPolicy"] = aws_trust_policy(wi.unique_id, b.audience).dump(2);
  } else {
    st.erase("gcpServiceAccountUniqueId");
    st.erase("awsTrustPolicy");
  }
  if (old_status != st) {
    json obj = current;
    obj["status"] = std::move(st);
    sp.write = std::move(obj);
  }

  ready_event(b.conditions, conditions, sp.events);
  const auto& missed = out.missed_pods;
  if (!missed.empty() && static_cast<int>(missed.size()) != previous_missed) {
    std::vector<std::string> shown(missed.begin(),
                                   missed.begin() + std::min<size_t>(10, missed.size()));
    sp.events.push_back(
        {"Warning", "PodsMissingInjection",
         std::to_string(missed.size()) + " running pod(s) of ServiceAccount " + desired.ksa +
             " have no gtoken injection (created before the binding or while the webhook was "
             "unreachable); restart them: " +
             join(shown, ", ")});
  }

  if (!out.cleanup_error.empty()) {
    sp.result = kube::Result::error(out.cleanup_error);
  } else if (!plan.conflict && !b.kubernetes && !wi.ok) {
    sp.result = kube::Result::error(wi.reason + ": " + wi.message);
  } else if (!plan.conflict && out.trust && out.trust->reason == trust_reason::kIamError) {
    sp.result = kube::Result::error(out.trust->message);
  } else {
    sp.result = kube::Result::requeue_after(c.resync);
  }
  return sp;
}

StatusPlan plan_refused_status(const BindingView& b, const tenancy::Verdict& verdict,
                               const std::vector<Target>& remaining,
                               const std::string& cleanup_error, const std::string& now,
                               const PlanConfig& c) {
  StatusPlan sp;
  json conditions = b.conditions;
  const std::string& msg = verdict.message;
  for (const char* type : {kSaReady, kWiReady}) {
    if (b.kubernetes && std::string(type) == kWiReady) continue;  // no Google part
    set_condition(conditions, type, "False", contract::kReasonNotAllowed, "not set up: " + msg,
                  b.generation, now);
  }
  set_condition(conditions, kReady, "False", contract::kReasonNotAllowed,
                cleanup_error.empty() ? msg : msg + "; " + cleanup_error, b.generation, now);

  json st = b.status;
  st["observedGeneration"] = b.generation;
  st["conditions"] = conditions;
  st["appliedTargets"] = targets_json(remaining);
  for (const char* k : {"workloadIdentityMember", "podsMissingInjection",
                        "gcpServiceAccountUniqueId", "awsTrustPolicy", "oidcIssuer",
                        "awsOidcProviderArn", "awsOidcProviderCommand"}) {
    st.erase(k);
  }
  if (b.status != st) {
    json obj = b.object;
    obj["status"] = std::move(st);
    sp.write = std::move(obj);
  }
  const json* was = find_condition(b.conditions, kReady);
  sp.newly_refused = !was || was->value("reason", "") != contract::kReasonNotAllowed;
  ready_event(b.conditions, conditions, sp.events);
  sp.result = cleanup_error.empty() ? kube::Result::requeue_after(c.resync)
                                    : kube::Result::error(cleanup_error);
  return sp;
}

StatusPlan plan_cleanup_stuck(const BindingView& b, const std::string& error,
                              const std::string& now) {
  StatusPlan sp;
  std::string msg = "cleanup is stuck and will be retried: " + error +
                    ". To let the object go without cleanup, remove the finalizer " +
                    contract::kFinalizer + " by hand";
  json conditions = b.conditions;
  const json* was = find_condition(conditions, kReady);
  bool reason_changed = !was || was->value("reason", "") != "CleanupFailed";
  if (set_condition(conditions, kReady, "False", "CleanupFailed", msg, b.generation, now)) {
    json obj = b.object;
    obj["status"]["conditions"] = conditions;
    sp.write = std::move(obj);
    if (reason_changed) sp.events.push_back({"Warning", "CleanupFailed", msg});
  }
  sp.result = kube::Result::error(msg);
  return sp;
}

json event_object(const json& binding, const PlannedEvent& e, const std::string& instance,
                  const std::string& event_time) {
  const json& m = binding["metadata"];
  std::string name = m.value("name", "");
  std::string ns = m.value("namespace", "");
  return {{"apiVersion", "events.k8s.io/v1"},
          {"kind", "Event"},
          {"metadata", {{"generateName", name + "-"}, {"namespace", ns}}},
          {"eventTime", event_time},
          {"reportingController", "gtoken.io/operator"},
          {"reportingInstance", instance},
          {"action", "Reconcile"},
          {"reason", e.reason},
          {"note", e.note.substr(0, 1024)},
          {"type", e.type},
          {"regarding",
           {{"apiVersion", "gtoken.io/v1alpha1"},
            {"kind", "AwsRoleBinding"},
            {"name", name},
            {"namespace", ns},
            {"uid", m.value("uid", "")}}}};
}

std::vector<std::string> pods_missing_injection(const json& pods,
                                                const std::string& agent_container,
                                                bool kubernetes) {
  std::vector<std::string> names;
  if (!pods.contains("items")) return names;
  for (const auto& p : pods["items"]) {
    if (pod_missing_injection(p, agent_container, kubernetes)) {
      names.push_back(p["metadata"].value("name", ""));
    }
  }
  return names;
}

}  // namespace gtoken
