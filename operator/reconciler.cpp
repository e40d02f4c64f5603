#include "operator/reconciler.hpp"

#include <algorithm>
#include <ctime>
#include <thread>

#include "kube/backoff.hpp"
#include "kube/errors.hpp"
#include "operator/log.hpp"
#include "operator/policy.hpp"

namespace gtoken {

using json = nlohmann::json;
namespace res = kube::resources;

namespace {

// Condition types and reasons (docs/reference.md lists each with what to do).
constexpr const char* kSaReady = "ServiceAccountReady";
constexpr const char* kWiReady = "WorkloadIdentityReady";
constexpr const char* kReady = "Ready";

std::string json_pointer_escape(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

const json& annotations_of(const json& obj) {
  static const json empty = json::object();
  if (obj.contains("metadata") && obj["metadata"].contains("annotations") &&
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

}  // namespace

json Target::to_json() const {
  return {{"serviceAccountName", ksa},
          {"gcpServiceAccount", gsa},
          {"awsRoleArn", role_arn},
          {"project", project},
          {"createdServiceAccount", created_sa}};
}

Target Target::from_json(const json& j) {
  Target t;
  t.ksa = j.value("serviceAccountName", "");
  t.gsa = j.value("gcpServiceAccount", "");
  t.role_arn = j.value("awsRoleArn", "");
  t.project = j.value("project", "");
  t.created_sa = j.value("createdServiceAccount", false);
  return t;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string rfc3339_micro(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() % 1000000;
  char buf[48];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(micros));
  return out;
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

Reconciler::Reconciler(std::shared_ptr<kube::Client> client, std::shared_ptr<IamClient> iam,
                       ReconcilerConfig config, std::shared_ptr<const kube::Store> bindings,
                       std::shared_ptr<kube::Metrics> metrics, std::function<bool()> is_leader,
                       std::shared_ptr<kube::Clock> clock, kube::Random random)
    : client_(std::move(client)),
      iam_(std::move(iam)),
      config_(std::move(config)),
      bindings_(std::move(bindings)),
      metrics_(std::move(metrics)),
      is_leader_(std::move(is_leader)),
      clock_(std::move(clock)),
      random_(std::move(random)) {}

void Reconciler::check_leader() const {
  if (!is_leader_()) throw NotLeader();
}

std::string Reconciler::audience_of(const json& spec) const {
  std::string a = spec.value("audience", "");
  return a.empty() ? config_.default_audience : a;
}

kube::Result Reconciler::reconcile(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return kube::Result::terminal_error("bad key " + key);
  std::string ns = key.substr(0, slash);
  std::string name = key.substr(slash + 1);
  auto start = std::chrono::steady_clock::now();
  kube::Result result = kube::Result::ok();
  std::string outcome = "success";
  try {
    json b;
    try {
      b = client_->get(res::aws_role_bindings(), ns, name);
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) return kube::Result::ok();
      throw;
    }
    if (b["metadata"].contains("deletionTimestamp")) {
      result = finalize(ns, name, std::move(b));
    } else {
      result = reconcile_live(ns, name, std::move(b));
    }
    if (result.is_error()) outcome = "error";
  } catch (const NotLeader&) {
    outcome = "not_leader";
    result = kube::Result::ok();
  } catch (const kube::ApiError& e) {
    // 409: someone wrote the object after we read it; read again soon.
    outcome = e.is_conflict() ? "conflict" : "error";
    result = e.is_conflict() ? kube::Result::requeue() : kube::Result::error(e.what());
  } catch (const std::exception& e) {
    outcome = "error";
    result = kube::Result::error(e.what());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (metrics_) {
    metrics_->inc("gtoken_reconcile_total", {{"result", outcome}});
    metrics_->observe("gtoken_reconcile_duration_seconds", secs);
  }
  if (result.is_error()) {
    log::warn("reconcile failed", {{"binding", key}, {"error", result.message()}});
  }
  return result;
}

json Reconciler::add_finalizer(const std::string& ns, const std::string& name, const json& b) {
  check_leader();
  json patch = json::array(
      {{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", b["metadata"]["resourceVersion"]}}});
  if (b["metadata"].contains("finalizers") && b["metadata"]["finalizers"].is_array()) {
    patch.push_back({{"op", "add"}, {"path", "/metadata/finalizers/-"}, {"value", keys::kFinalizer}});
  } else {
    patch.push_back(
        {{"op", "add"}, {"path", "/metadata/finalizers"}, {"value", json::array({keys::kFinalizer})}});
  }
  return client_->patch(res::aws_role_bindings(), ns, name, kube::PatchType::Json, patch);
}

std::string Reconciler::ksa_owner(const std::string& ns, const std::string& ksa,
                                  const json& sa) const {
  // The binding recorded on the ServiceAccount keeps it while it exists and
  // still names that ServiceAccount; otherwise the oldest binding wins.
  std::vector<json> claimants;
  for (const auto& obj : bindings_->list(ns)) {
    const json& o = *obj;
    if (o["metadata"].contains("deletionTimestamp")) continue;
    if (!o.contains("spec") || o["spec"].value("serviceAccountName", "") != ksa) continue;
    claimants.push_back(o);
  }
  std::string recorded = annotation(sa, keys::kBinding);
  for (const auto& c : claimants) {
    if (c["metadata"].value("name", "") == recorded) return recorded;
  }
  if (claimants.empty()) return "";
  auto older = [](const json& a, const json& b) {
    auto ta = a["metadata"].value("creationTimestamp", "");
    auto tb = b["metadata"].value("creationTimestamp", "");
    if (ta != tb) return ta < tb;  // RFC 3339 UTC strings sort by time
    return a["metadata"].value("name", "") < b["metadata"].value("name", "");
  };
  return (*std::min_element(claimants.begin(), claimants.end(), older))["metadata"].value("name",
                                                                                          "");
}

bool Reconciler::other_binding_uses(const std::string& ns, const std::string& self,
                                    const Target& t) const {
  for (const auto& obj : bindings_->list(ns)) {
    const json& o = *obj;
    if (o["metadata"].value("name", "") == self) continue;
    if (o["metadata"].contains("deletionTimestamp") || !o.contains("spec")) continue;
    if (o["spec"].value("serviceAccountName", "") == t.ksa &&
        o["spec"].value("gcpServiceAccount", "") == t.gsa) {
      return true;
    }
  }
  return false;
}

std::string Reconciler::ensure_service_account(const std::string& ns, const std::string& name,
                                               const json& spec, Target& t) {
  json sa;
  bool exists = true;
  try {
    sa = client_->get(res::service_accounts(), ns, t.ksa);
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) throw;
    exists = false;
  }
  if (!exists) {
    check_leader();
    json obj = {{"apiVersion", "v1"},
                {"kind", "ServiceAccount"},
                {"metadata",
                 {{"name", t.ksa},
                  {"namespace", ns},
                  {"labels", {{keys::kManagedByLabel, "gtoken"}}},
                  {"annotations", {{keys::kCreatedBy, name}}}}}};
    try {
      sa = client_->create(res::service_accounts(), ns, obj);
      log::info("created ServiceAccount", {{"namespace", ns}, {"serviceAccount", t.ksa}});
    } catch (const kube::ApiError& e) {
      if (!e.is_conflict()) throw;  // created meanwhile by someone else: use theirs
      sa = client_->get(res::service_accounts(), ns, t.ksa);
    }
  }
  t.created_sa = annotation(sa, keys::kCreatedBy) == name;

  json want = {{keys::kGcpServiceAccount, t.gsa},
               {keys::kRoleArn, t.role_arn},
               {keys::kBinding, name},
               {keys::kAudience, audience_of(spec)}};
  if (spec.contains("region")) want[keys::kRegion] = spec["region"];
  if (spec.contains("containers") && !spec["containers"].empty()) {
    std::vector<std::string> names = spec["containers"].get<std::vector<std::string>>();
    want[keys::kContainers] = join(names, ",");
  }
  if (t.created_sa) want[keys::kCreatedBy] = name;

  const json& have = annotations_of(sa);
  bool same = true;
  for (auto& [k, v] : want.items()) same &= have.contains(k) && have[k] == v;
  // Optional annotations this binding no longer asks for must go too.
  for (const char* k : {keys::kRegion, keys::kContainers}) same &= have.contains(k) == want.contains(k);
  if (same) return "";

  check_leader();
  json applied = {{"apiVersion", "v1"},
                  {"kind", "ServiceAccount"},
                  {"metadata", {{"name", t.ksa}, {"namespace", ns}, {"annotations", want}}}};
  client_->apply(res::service_accounts(), ns, applied, /*force=*/true);
  log::info("annotated ServiceAccount", {{"namespace", ns}, {"serviceAccount", t.ksa}});
  return "";
}

void Reconciler::cleanup_target(const std::string& ns, const std::string& name, const Target& t) {
  // ServiceAccount: only when it is still this binding's.
  json sa;
  bool exists = true;
  try {
    sa = client_->get(res::service_accounts(), ns, t.ksa);
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) throw;
    exists = false;
  }
  if (exists && annotation(sa, keys::kBinding) == name) {
    check_leader();
    if (annotation(sa, keys::kCreatedBy) == name) {
      kube::DeleteOptions d;
      d.precondition_uid = sa["metadata"]["uid"].get<std::string>();
      try {
        client_->remove(res::service_accounts(), ns, t.ksa, d);
        log::info("deleted ServiceAccount it had created", {{"namespace", ns}, {"serviceAccount", t.ksa}});
      } catch (const kube::ApiError& e) {
        if (!e.is_not_found()) throw;
      }
    } else {
      // Remove each of gtoken's annotations only while it still holds the
      // value gtoken set: a value someone changed by hand is theirs now.
      json patch = json::array();
      auto drop_if = [&](const std::string& key, const std::string& value) {
        if (annotation(sa, key) != value || value.empty()) return;
        std::string path = "/metadata/annotations/" + json_pointer_escape(key);
        patch.push_back({{"op", "test"}, {"path", path}, {"value", value}});
        patch.push_back({{"op", "remove"}, {"path", path}});
      };
      drop_if(keys::kGcpServiceAccount, t.gsa);
      drop_if(keys::kRoleArn, t.role_arn);
      for (const char* k : {keys::kBinding, keys::kAudience, keys::kRegion, keys::kContainers}) {
        drop_if(k, annotation(sa, k));
      }
      if (!patch.empty()) {
        client_->patch(res::service_accounts(), ns, t.ksa, kube::PatchType::Json, patch);
        log::info("removed annotations", {{"namespace", ns}, {"serviceAccount", t.ksa}});
      }
    }
  }
  // Google IAM: the Workload Identity member, unless another live binding
  // still grants the same ServiceAccount the same GSA.
  if (!other_binding_uses(ns, name, t)) remove_member(t, ns);
}

Reconciler::WiResult Reconciler::ensure_member(const Target& t, const std::string& ns) {
  WiResult r;
  std::string member = workload_identity_member(t.project, ns, t.ksa);
  try {
    json gsa = iam_->get_service_account(t.gsa);
    r.unique_id = gsa.value("uniqueId", "");
    if (gsa.value("disabled", false)) {
      r.reason = "GcpServiceAccountDisabled";
      r.message = "Google service account " + t.gsa +
                  " is disabled, so it cannot mint tokens: enable it (gcloud iam "
                  "service-accounts enable " + t.gsa + ")";
      return r;
    }
    kube::BackoffPolicy policy{config_.iam_backoff_base, config_.iam_backoff_cap, 2.0,
                               kube::Jitter::Full};
    for (int attempt = 0;; ++attempt) {
      json current = iam_->get_iam_policy(t.gsa);
      auto edit = add_member(current, kWorkloadIdentityUserRole, member);
      if (!edit.changed) break;
      check_leader();
      try {
        iam_->set_iam_policy(t.gsa, edit.policy);
        log::info("granted Workload Identity", {{"gsa", t.gsa}, {"member", member}});
        break;
      } catch (const GoogleError& e) {
        if (!e.is_aborted() || attempt + 1 >= config_.iam_conflict_retries) throw;
        // Concurrent policy change: re-read and retry the whole read-modify-write.
        clock_->sleep_for(kube::backoff_delay(policy, static_cast<unsigned>(attempt), random_()));
      }
    }
    r.ok = true;
    r.reason = "MemberBound";
    r.message = member + " holds " + kWorkloadIdentityUserRole + " on " + t.gsa;
  } catch (const NotLeader&) {
    throw;
  } catch (const GoogleError& e) {
    if (e.http() == 401) {
      r.reason = "GoogleAuthFailed";
      r.message = std::string("the operator has no working Google credentials (metadata server "
                              "or GOOGLE_APPLICATION_CREDENTIALS): ") + e.what();
    } else if (e.is_not_found()) {
      r.reason = "GcpServiceAccountNotFound";
      r.message = "Google service account " + t.gsa + " does not exist: create it or fix spec.gcpServiceAccount";
    } else if (e.is_permission_denied()) {
      r.reason = "PermissionDenied";
      r.message = "Google denied access to " + t.gsa +
                  " (it may also not exist): give the operator's Google identity "
                  "roles/iam.serviceAccountAdmin on it. " + e.what();
    } else if (e.is_aborted()) {
      r.reason = "ConcurrentPolicyChange";
      r.message = "the IAM policy of " + t.gsa + " kept changing concurrently; retrying. " + e.what();
    } else {
      r.reason = "GoogleApiError";
      r.message = std::string("Google IAM API call failed; retrying: ") + e.what();
    }
  } catch (const kube::NetworkError& e) {
    r.reason = "GoogleApiUnreachable";
    r.message = std::string("cannot reach the Google IAM API; retrying: ") + e.what();
  }
  return r;
}

void Reconciler::remove_member(const Target& t, const std::string& ns) {
  std::string member = workload_identity_member(t.project, ns, t.ksa);
  kube::BackoffPolicy policy{config_.iam_backoff_base, config_.iam_backoff_cap, 2.0,
                             kube::Jitter::Full};
  for (int attempt = 0;; ++attempt) {
    json current;
    try {
      current = iam_->get_iam_policy(t.gsa);
    } catch (const GoogleError& e) {
      if (e.is_not_found()) return;  // the GSA is gone, and its policy with it
      throw;
    }
    auto edit = gtoken::remove_member(current, kWorkloadIdentityUserRole, member);
    if (!edit.changed) return;
    check_leader();
    try {
      iam_->set_iam_policy(t.gsa, edit.policy);
      log::info("revoked Workload Identity", {{"gsa", t.gsa}, {"member", member}});
      return;
    } catch (const GoogleError& e) {
      if (!e.is_aborted() || attempt + 1 >= config_.iam_conflict_retries) throw;
      clock_->sleep_for(kube::backoff_delay(policy, static_cast<unsigned>(attempt), random_()));
    }
  }
}

int Reconciler::count_missed_pods(const std::string& ns, const std::string& ksa,
                                  std::vector<std::string>& names) {
  kube::ListOptions o;
  o.field_selector = "spec.serviceAccountName=" + ksa;
  json pods = client_->list_all(res::pods(), ns, o);
  int missed = 0;
  for (const auto& p : pods["items"]) {
    if (p["metadata"].contains("deletionTimestamp")) continue;
    std::string phase = p.contains("status") ? p["status"].value("phase", "") : "";
    if (phase == "Succeeded" || phase == "Failed") continue;
    if (annotation(p, "gtoken.io/inject") == "false") continue;
    bool injected = false;
    for (const char* list : {"containers", "initContainers"}) {
      if (!p["spec"].contains(list)) continue;
      for (const auto& c : p["spec"][list]) {
        if (c.value("name", "") == config_.agent_container_name ||
            c.value("name", "") == config_.agent_container_name + "-init") {
          injected = true;
        }
      }
    }
    if (!injected) {
      ++missed;
      names.push_back(p["metadata"].value("name", ""));
    }
  }
  return missed;
}

void Reconciler::event(const json& b, const std::string& type, const std::string& reason,
                       const std::string& note) {
  try {
    check_leader();
    auto now = clock_->now();
    std::string name = b["metadata"].value("name", "");
    json ev = {{"apiVersion", "events.k8s.io/v1"},
               {"kind", "Event"},
               {"metadata",
                {{"generateName", name + "-"}, {"namespace", b["metadata"].value("namespace", "")}}},
               {"eventTime", rfc3339_micro(now)},
               {"reportingController", "gtoken.io/operator"},
               {"reportingInstance", config_.instance},
               {"action", "Reconcile"},
               {"reason", reason},
               {"note", note.substr(0, 1024)},
               {"type", type},
               {"regarding",
                {{"apiVersion", "gtoken.io/v1alpha1"},
                 {"kind", "AwsRoleBinding"},
                 {"name", name},
                 {"namespace", b["metadata"].value("namespace", "")},
                 {"uid", b["metadata"].value("uid", "")}}}};
    client_->create(res::events(), b["metadata"].value("namespace", ""), ev);
  } catch (const NotLeader&) {
    throw;
  } catch (const std::exception& e) {
    // Events are best effort: losing one must not fail the reconcile.
    log::warn("could not record event", {{"reason", reason}, {"error", e.what()}});
  }
}

json Reconciler::write_status(const std::string& ns, json b) {
  check_leader();
  return client_->update_status(res::aws_role_bindings(), ns, b);
}

kube::Result Reconciler::reconcile_live(const std::string& ns, const std::string& name, json b) {
  bool has_finalizer = false;
  if (b["metadata"].contains("finalizers")) {
    for (const auto& f : b["metadata"]["finalizers"]) has_finalizer |= f == keys::kFinalizer;
  }
  if (!has_finalizer) b = add_finalizer(ns, name, b);

  const json spec = b.value("spec", json::object());
  int64_t generation = b["metadata"].value("generation", int64_t{0});
  std::string now = rfc3339(clock_->now());
  Target desired{spec.value("serviceAccountName", ""), spec.value("gcpServiceAccount", ""),
                 spec.value("awsRoleArn", ""), config_.project, false};
  std::string audience = audience_of(spec);

  json status = b.value("status", json::object());
  std::vector<Target> applied;
  if (status.contains("appliedTargets")) {
    for (const auto& j : status["appliedTargets"]) applied.push_back(Target::from_json(j));
  }
  json conditions = status.value("conditions", json::array());
  json before = conditions;

  // Two bindings naming one ServiceAccount: only its owner touches it.
  json sa_now = json::object();
  try {
    sa_now = client_->get(res::service_accounts(), ns, desired.ksa);
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) throw;
  }
  std::string owner = ksa_owner(ns, desired.ksa, sa_now);
  bool conflict = !owner.empty() && owner != name;

  // Record the intent before acting, so a crash or a later change can undo it.
  bool recorded = std::any_of(applied.begin(), applied.end(),
                              [&](const Target& t) { return t.same_as(desired); });
  if (!recorded && !conflict) {
    json targets = json::array();
    for (const auto& t : applied) targets.push_back(t.to_json());
    targets.push_back(desired.to_json());
    b["status"] = status;
    b["status"]["appliedTargets"] = targets;
    b = write_status(ns, b);
    applied.push_back(desired);
  }
  // Undo what an earlier spec set up and this one no longer wants.
  std::vector<Target> keep;
  for (const auto& t : applied) {
    if (t.same_as(desired)) {
      keep.push_back(t);
    } else {
      cleanup_target(ns, name, t);
    }
  }

  std::vector<std::string> missed_names;
  WiResult wi;
  if (conflict) {
    std::string msg = "ServiceAccount " + desired.ksa + " is already bound by AwsRoleBinding " +
                      owner + "; delete one of the two bindings or point this one at another "
                      "ServiceAccount";
    set_condition(conditions, kSaReady, "False", "Conflict", msg, generation, now);
    set_condition(conditions, kWiReady, "Unknown", "Conflict", "not reconciled while in conflict",
                  generation, now);
    set_condition(conditions, kReady, "False", "Conflict", msg, generation, now);
  } else {
    ensure_service_account(ns, name, spec, desired);
    set_condition(conditions, kSaReady, "True", "Annotated",
                  "ServiceAccount " + desired.ksa + " carries " + keys::kGcpServiceAccount + " and " +
                      keys::kRoleArn,
                  generation, now);
    wi = ensure_member(desired, ns);
    set_condition(conditions, kWiReady, wi.ok ? "True" : "False", wi.reason, wi.message,
                  generation, now);
    if (wi.ok) {
      set_condition(conditions, kReady, "True", "Ready",
                    "pods of ServiceAccount " + desired.ksa + " can assume " + desired.role_arn +
                        " once its trust policy is status.awsTrustPolicy",
                    generation, now);
    } else {
      set_condition(conditions, kReady, "False", wi.reason, wi.message, generation, now);
    }
    count_missed_pods(ns, desired.ksa, missed_names);
  }

  json st = b.value("status", json::object());
  int previous_missed = st.value("podsMissingInjection", 0);
  st["observedGeneration"] = generation;
  st["conditions"] = conditions;
  json targets = json::array();
  for (auto t : keep) {
    if (t.same_as(desired)) t.created_sa = t.created_sa || desired.created_sa;
    targets.push_back(t.to_json());
  }
  st["appliedTargets"] = targets;
  if (!conflict) {
    st["workloadIdentityMember"] = workload_identity_member(desired.project, ns, desired.ksa);
    st["podsMissingInjection"] = static_cast<int>(missed_names.size());
    if (!wi.unique_id.empty()) {
      st["gcpServiceAccountUniqueId"] = wi.unique_id;
      st["awsTrustPolicy"] = aws_trust_policy(wi.unique_id, audience).dump(2);
    }
  }
  if (b.value("status", json::object()) != st) {
    b["status"] = st;
    b = write_status(ns, b);
  }

  // One Event per condition change, and one when the set of missed pods grows.
  for (const auto& c : conditions) {
    bool changed = true;
    for (const auto& old : before) {
      if (old.value("type", "") == c.value("type", "") && old.value("status", "") == c["status"] &&
          old.value("reason", "") == c["reason"] && old.value("message", "") == c["message"]) {
        changed = false;
      }
    }
    if (changed && c.value("type", "") == kReady) {
      event(b, c["status"] == "True" ? "Normal" : "Warning", c.value("reason", ""),
            c.value("message", ""));
    }
  }
  if (!missed_names.empty() && static_cast<int>(missed_names.size()) != previous_missed) {
    std::vector<std::string> shown(missed_names.begin(),
                                   missed_names.begin() + std::min<size_t>(10, missed_names.size()));
    event(b, "Warning", "PodsMissingInjection",
          std::to_string(missed_names.size()) + " running pod(s) of ServiceAccount " + desired.ksa +
              " have no gtoken injection (created before the binding or while the webhook was "
              "unreachable); restart them: " + join(shown, ", "));
  }

  if (!conflict && !wi.ok) return kube::Result::error(wi.reason + ": " + wi.message);
  return kube::Result::requeue_after(config_.resync);
}

kube::Result Reconciler::finalize(const std::string& ns, const std::string& name, json b) {
  int index = -1;
  if (b["metadata"].contains("finalizers")) {
    for (size_t i = 0; i < b["metadata"]["finalizers"].size(); ++i) {
      if (b["metadata"]["finalizers"][i] == keys::kFinalizer) index = static_cast<int>(i);
    }
  }
  if (index < 0) return kube::Result::ok();

  std::vector<Target> targets;
  json status = b.value("status", json::object());
  if (status.contains("appliedTargets")) {
    for (const auto& j : status["appliedTargets"]) targets.push_back(Target::from_json(j));
  }
  try {
    for (const auto& t : targets) cleanup_target(ns, name, t);
  } catch (const NotLeader&) {
    throw;
  } catch (const std::exception& e) {
    std::string msg = std::string("cleanup is stuck and will be retried: ") + e.what() +
                      ". To let the object go without cleanup, remove the finalizer " +
                      keys::kFinalizer + " by hand";
    json conditions = status.value("conditions", json::array());
    int64_t generation = b["metadata"].value("generation", int64_t{0});
    if (set_condition(conditions, kReady, "False", "CleanupFailed", msg, generation,
                      rfc3339(clock_->now()))) {
      b["status"]["conditions"] = conditions;
      try {
        b = write_status(ns, b);
      } catch (const kube::ApiError&) {
        // The next attempt writes it again.
      }
      event(b, "Warning", "CleanupFailed", msg);
    }
    return kube::Result::error(msg);
  }
  check_leader();
  std::string path = "/metadata/finalizers/" + std::to_string(index);
  json patch = json::array({{{"op", "test"}, {"path", path}, {"value", keys::kFinalizer}},
                            {{"op", "remove"}, {"path", path}}});
  client_->patch(res::aws_role_bindings(), ns, name, kube::PatchType::Json, patch);
  log::info("cleaned up and released binding", {{"binding", ns + "/" + name}});
  return kube::Result::ok();
}

}  // namespace gtoken
