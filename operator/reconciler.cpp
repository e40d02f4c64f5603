#include "operator/reconciler.hpp"

#include <algorithm>
#include <thread>

#include "kube/backoff.hpp"
#include "kube/errors.hpp"
#include "kube/json_pointer.hpp"
#include "kube/names.hpp"
#include "kube/time.hpp"
#include "operator/log.hpp"
#include "operator/policy.hpp"

namespace gtoken {

using json = nlohmann::json;
namespace res = kube::resources;

namespace {

// Condition types and reasons (docs/reference.md lists each with what to do).
constexpr const char* kSaReady = contract::kConditionServiceAccountReady;
constexpr const char* kWiReady = contract::kConditionWorkloadIdentityReady;
constexpr const char* kReady = contract::kConditionReady;


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
  json j = {{"serviceAccountName", ksa},
            {"gcpServiceAccount", gsa},
            {"awsRoleArn", role_arn},
            {"project", project},
            {"createdServiceAccount", created_sa}};
  if (!preexisting.empty()) j["preexistingAnnotations"] = preexisting;
  return j;
}

bool valid_gsa_email(const std::string& email) {
  auto at = email.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= email.size() || email.size() > 254) return false;
  for (size_t i = 0; i < email.size(); ++i) {
    char c = email[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              (i > at && (c == '.' || c == ':'));
    if (!ok && i != at) return false;
  }
  return true;
}

bool Target::valid() const {
  auto arn_ok = [](const std::string& arn) {
    if (arn.rfind("arn:", 0) != 0 || arn.size() > 2048) return false;
    for (unsigned char c : arn) {
      if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
  };
  return kube::is_dns1123_subdomain(ksa) && valid_gsa_email(gsa) && arn_ok(role_arn) &&
         (project.empty() || kube::is_dns1123_subdomain(project) ||
          valid_gsa_email("x@" + project));
}

Target Target::from_json(const json& j) {
  Target t;
  t.ksa = j.value("serviceAccountName", "");
  t.gsa = j.value("gcpServiceAccount", "");
  t.role_arn = j.value("awsRoleArn", "");
  t.project = j.value("project", "");
  t.created_sa = j.value("createdServiceAccount", false);
  if (j.contains("preexistingAnnotations") && j["preexistingAnnotations"].is_array()) {
    for (const auto& k : j["preexistingAnnotations"]) {
      if (k.is_string()) t.preexisting.push_back(k.get<std::string>());
    }
  }
  return t;
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
  std::string audience = spec.value("audience", "");
  json want = {{keys::kGcpServiceAccount, spec.value("gcpServiceAccount", "")},
               {keys::kRoleArn, spec.value("awsRoleArn", "")},
               {keys::kBinding, binding_name},
               {keys::kAudience, audience.empty() ? default_audience : audience}};
  if (spec.contains("region") && spec["region"].is_string() &&
      !spec["region"].get<std::string>().empty()) {
    want[keys::kRegion] = spec["region"];
  }
  if (spec.contains("containers") && spec["containers"].is_array() &&
      !spec["containers"].empty()) {
    want[keys::kContainers] = join(spec["containers"].get<std::vector<std::string>>(), ",");
  }
  return want;
}

bool annotations_match(const json& annotations, const json& want) {
  const json& have = annotations.is_object() ? annotations : json::object();
  for (const auto& [k, v] : want.items()) {
    auto it = have.find(k);
    if (it == have.end() || *it != v) return false;
  }
  // Optional annotations this binding no longer asks for must go too.
  for (const char* k : {keys::kRegion, keys::kContainers}) {
    if (have.contains(k) && !want.contains(k)) return false;
  }
  return true;
}

bool binding_update_needs_reconcile(const json& old_obj, const json& new_obj) {
  const json& o = old_obj.value("metadata", json::object());
  const json& n = new_obj.value("metadata", json::object());
  auto has_ours = [](const json& m) {
    for (const auto& f : m.value("finalizers", json::array())) {
      if (f == keys::kFinalizer) return true;
    }
    return false;
  };
  return o.value("generation", int64_t{0}) != n.value("generation", int64_t{0}) ||
         o.value("uid", "") != n.value("uid", "") ||
         o.contains("deletionTimestamp") != n.contains("deletionTimestamp") ||
         // our finalizer taken away (by hand) must be put back; adding it
         // was our own write
         (has_ours(o) && !has_ours(n));
}

json slim_binding(json b) {
  json out = {{"apiVersion", b.value("apiVersion", "")}, {"kind", b.value("kind", "")}};
  const json m = b.value("metadata", json::object());
  json meta = json::object();
  for (const char* k : {"name", "namespace", "uid", "resourceVersion", "generation",
                        "creationTimestamp", "deletionTimestamp", "finalizers"}) {
    if (m.contains(k)) meta[k] = m[k];
  }
  out["metadata"] = std::move(meta);
  if (b.contains("spec")) out["spec"] = std::move(b["spec"]);
  if (b.contains("status") && b["status"].is_object()) {
    json& st = b["status"];
    json slim = json::object();
    if (st.contains("appliedTargets")) slim["appliedTargets"] = std::move(st["appliedTargets"]);
    if (st.contains("conditions") && st["conditions"].is_array()) {
      for (const auto& c : st["conditions"]) {
        if (c.is_object() && c.value("type", "") == kReady) {
          slim["conditions"] = json::array({{{"type", kReady},
                                             {"status", c.value("status", "")},
                                             {"reason", c.value("reason", "")}}});
        }
      }
    }
    out["status"] = std::move(slim);
  }
  return out;
}

std::string gsa_project(const std::string& email) {
  static const std::string suffix = ".iam.gserviceaccount.com";
  auto at = email.find('@');
  if (at == std::string::npos || email.size() <= at + 1 + suffix.size()) return "";
  if (email.compare(email.size() - suffix.size(), suffix.size(), suffix) != 0) return "";
  return email.substr(at + 1, email.size() - suffix.size() - at - 1);
}

Reconciler::Reconciler(std::shared_ptr<kube::Client> client, std::shared_ptr<IamClient> iam,
                       ReconcilerConfig config, std::shared_ptr<const kube::Store> bindings,
                       std::shared_ptr<const BindingIndex> index,
                       std::shared_ptr<const TenancyGate> gate,
                       std::shared_ptr<kube::Metrics> metrics, std::function<bool()> is_leader,
                       std::shared_ptr<kube::Clock> clock, kube::Random random)
    : client_(std::move(client)),
      iam_(std::move(iam)),
      config_(std::move(config)),
      bindings_(std::move(bindings)),
      index_(std::move(index)),
      gate_(std::move(gate)),
      metrics_(std::move(metrics)),
      is_leader_(std::move(is_leader)),
      clock_(std::move(clock)),
      random_(std::move(random)),
      cache_ttl_(std::min<std::chrono::milliseconds>(
          config_.google_cache_ttl,
          std::chrono::duration_cast<std::chrono::milliseconds>(config_.resync) / 2)) {
  PolicyWriter::Options o;
  o.cache_ttl = cache_ttl_;
  o.conflict_retries = config_.iam_conflict_retries;
  o.backoff = {config_.iam_backoff_base, config_.iam_backoff_cap, 2.0, kube::Jitter::Full};
  o.before_write = [this] { check_leader(); };
  o.on_write = [this](const std::string& gsa, size_t changes) {
    if (metrics_) metrics_->inc("gtoken_iam_policy_writes_total");
    log::debug("wrote IAM policy", {{"gsa", gsa}, {"changes", changes}});
  };
  policies_ = std::make_unique<PolicyWriter>(
      [this](const std::string& gsa) { return iam_->get_iam_policy(gsa); },
      [this](const std::string& gsa, const json& policy) {
        return iam_->set_iam_policy(gsa, policy);
      },
      [](const std::exception& e) {
        auto* g = dynamic_cast<const GoogleError*>(&e);
        return g && g->is_aborted();
      },
      o, clock_, random_);
}

json Reconciler::service_account(const std::string& email) {
  auto now = clock_->now();
  {
    std::lock_guard lock(sa_cache_mu_);
    auto it = sa_cache_.find(email);
    if (it != sa_cache_.end() && now - it->second.second < cache_ttl_) return it->second.first;
  }
  json gsa = iam_->get_service_account(email);
  std::lock_guard lock(sa_cache_mu_);
  sa_cache_[email] = {gsa, now};
  return gsa;
}

void Reconciler::check_leader() const {
  if (!is_leader_()) throw NotLeader();
}

std::vector<kube::ObjectPtr> Reconciler::candidates(const std::string& ns,
                                                    const std::string& ksa) const {
  return index_ ? index_->bindings(*bindings_, ns, ksa) : bindings_->list(ns);
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
    if (e.is_conflict()) log::debug("conflict; read again", {{"binding", key}, {"error", e.what()}});
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
  // A merge patch carrying the resourceVersion we read: a concurrent change
  // (someone else's finalizer) answers 409 instead of being overwritten.
  json finalizers = b["metadata"].value("finalizers", json::array());
  finalizers.push_back(keys::kFinalizer);
  json patch = {{"metadata",
                 {{"resourceVersion", b["metadata"]["resourceVersion"]},
                  {"finalizers", finalizers}}}};
  return client_->patch(res::aws_role_bindings(), ns, name, kube::PatchType::Merge, patch);
}

json Reconciler::ksa_owner(const std::string& ns, const json& self, const std::string& ksa,
                           const json& sa) const {
  const std::string self_name = self["metadata"].value("name", "");
  // A binding the policy refused claims nothing: it must not keep an
  // allowed one in Conflict.
  auto names_ksa = [&](const json& o) {
    return !o["metadata"].contains("deletionTimestamp") && o.contains("spec") &&
           o["spec"].value("serviceAccountName", "") == ksa &&
           (o["metadata"].value("name", "") == self_name || !recorded_not_allowed(o));
  };
  std::vector<json> claimants;
  if (names_ksa(self)) claimants.push_back(self);
  for (const auto& obj : candidates(ns, ksa)) {
    const json& o = *obj;
    if (o["metadata"].value("name", "") != self_name && names_ksa(o)) claimants.push_back(o);
  }
  std::string recorded = sa.is_object() ? annotation(sa, keys::kBinding) : "";
  // Anyone who may edit the ServiceAccount can write this annotation: only a
  // name a binding could have is looked up.
  if (!recorded.empty() && !kube::is_dns1123_subdomain(recorded)) {
    log::warn("ignoring an invalid " + std::string(keys::kBinding) + " annotation",
              {{"namespace", ns}, {"serviceAccount", ksa}, {"value", kube::quote_untrusted(recorded)}});
    recorded.clear();
  }
  if (!recorded.empty()) {
    for (const auto& c : claimants) {
      if (c["metadata"].value("name", "") == recorded) return c;
    }
    // The cache may not have caught up with a binding created a moment ago:
    // ask the apiserver before taking the ServiceAccount from it.
    if (recorded != self_name) {
      try {
        json other = client_->get(res::aws_role_bindings(), ns, recorded);
        if (names_ksa(other)) return other;
      } catch (const kube::ApiError& e) {
        if (!e.is_not_found()) throw;
      }
    }
  }
  if (claimants.empty()) return nullptr;
  auto older = [](const json& a, const json& b) {
    auto ta = a["metadata"].value("creationTimestamp", "");
    auto tb = b["metadata"].value("creationTimestamp", "");
    if (ta != tb) return ta < tb;  // RFC 3339 UTC strings sort by time
    return a["metadata"].value("name", "") < b["metadata"].value("name", "");
  };
  return *std::min_element(claimants.begin(), claimants.end(), older);
}

bool Reconciler::other_binding_uses(const std::string& ns, const json& self,
                                    const Target& t) const {
  // Decided by ownership, not by who merely names the ServiceAccount: a
  // binding waiting in Conflict does not keep a member alive, and one about
  // to take the ServiceAccount over (not reconciled yet) does.
  json sa = nullptr;
  try {
    sa = client_->get(res::service_accounts(), ns, t.ksa);
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) throw;
  }
  json owner = ksa_owner(ns, self, t.ksa, sa);
  if (owner.is_null() || owner["metadata"].value("name", "") == self["metadata"].value("name", "")) {
    return false;
  }
  return owner["spec"].value("gcpServiceAccount", "") == t.gsa && config_.project == t.project;
}

void Reconciler::ensure_service_account(const std::string& ns, const std::string& name,
                                        const json& spec, Target& t, json sa) {
  json want = wanted_annotations(name, spec, config_.default_audience);
  if (!sa.is_object()) {
    // Created with every annotation at once (one write; the watch event it
    // causes already matches, so it does not bring the binding back).
    check_leader();
    json annotations = want;
    annotations[keys::kCreatedBy] = name;
    json obj = {{"apiVersion", "v1"},
                {"kind", "ServiceAccount"},
                {"metadata",
                 {{"name", t.ksa},
                  {"namespace", ns},
                  {"labels", {{keys::kManagedByLabel, "gtoken"}}},
                  {"annotations", annotations}}}};
    // 409 AlreadyExists: someone (maybe another binding) created it since it
    // was read; the reconcile starts over and decides ownership on it.
    sa = client_->create(res::service_accounts(), ns, obj);
    log::info("created ServiceAccount", {{"namespace", ns}, {"serviceAccount", t.ksa}});
  }
  t.created_sa = annotation(sa, keys::kCreatedBy) == name;
  if (t.created_sa) want[keys::kCreatedBy] = name;
  if (annotations_match(annotations_of(sa), want)) return;

  check_leader();
  // Server-side apply under gtoken's field manager: other annotations and
  // labels stay as they are. The resourceVersion makes it conditional on the
  // state the ownership decision was made on (409 = someone changed it:
  // start over).
  json applied = {{"apiVersion", "v1"},
                  {"kind", "ServiceAccount"},
                  {"metadata",
                   {{"name", t.ksa},
                    {"namespace", ns},
                    {"resourceVersion", sa["metadata"].value("resourceVersion", "")},
                    {"annotations", want}}}};
  sa = client_->apply(res::service_accounts(), ns, applied, /*force=*/true);
  log::info("annotated ServiceAccount", {{"namespace", ns}, {"serviceAccount", t.ksa}});

  // Optional keys this binding no longer sets: the apply drops them only
  // when gtoken's apply was their sole owner (not when they came with the
  // create, or someone else set the same value), so remove what is left.
  json patch = json::array();
  for (const char* k : {keys::kRegion, keys::kContainers}) {
    if (want.contains(k) || !annotations_of(sa).contains(k)) continue;
    std::string path = "/metadata/annotations/" + kube::json_pointer_escape(k);
    patch.push_back({{"op", "test"}, {"path", path}, {"value", annotations_of(sa)[k]}});
    patch.push_back({{"op", "remove"}, {"path", path}});
  }
  if (!patch.empty()) {
    client_->patch(res::service_accounts(), ns, t.ksa, kube::PatchType::Json, patch);
  }
}

void Reconciler::cleanup_target(const std::string& ns, const json& self, const Target& t,
                                const Target* still_wanted, bool touch_service_account) {
  const std::string name = self["metadata"].value("name", "");
  // ServiceAccount: only when it is still this binding's, and not the one
  // the binding goes on using.
  bool same_ksa = still_wanted && still_wanted->ksa == t.ksa;
  for (int attempt = 0; touch_service_account && !same_ksa; ++attempt) {
    json sa;
    try {
      sa = client_->get(res::service_accounts(), ns, t.ksa);
    } catch (const kube::ApiError& e) {
      if (!e.is_not_found()) throw;
      break;
    }
    std::string owner = annotation(sa, keys::kBinding);
    std::string creator = annotation(sa, keys::kCreatedBy);
    bool ours = owner == name;
    if (owner.empty() && creator == name) {
      // Created by this binding but the record of ownership was removed by
      // hand: still ours unless another binding claims the ServiceAccount.
      ours = true;
      for (const auto& obj : candidates(ns, t.ksa)) {
        const json& o = *obj;
        if (o["metadata"].value("name", "") != name && !o["metadata"].contains("deletionTimestamp") &&
            o.contains("spec") && o["spec"].value("serviceAccountName", "") == t.ksa) {
          ours = false;
        }
      }
    }
    if (!ours) break;
    check_leader();
    try {
      if (creator == name) {
        // Preconditions: exactly the object read, so a ServiceAccount another
        // binding took over (or someone recreated) in between is not deleted.
        kube::DeleteOptions d;
        d.precondition_uid = sa["metadata"].value("uid", "");
        d.precondition_resource_version = sa["metadata"].value("resourceVersion", "");
        client_->remove(res::service_accounts(), ns, t.ksa, d);
        log::info("deleted ServiceAccount it had created",
                  {{"namespace", ns}, {"serviceAccount", t.ksa}});
      } else {
        // Remove each of gtoken's annotations only while it still holds the
        // value gtoken set: a value someone changed by hand is theirs now.
        // The first test keeps this from undoing another binding that took
        // the ServiceAccount over since it was read.
        json patch = json::array();
        if (!owner.empty()) {
          patch.push_back({{"op", "test"},
                           {"path", "/metadata/annotations/" + kube::json_pointer_escape(keys::kBinding)},
                           {"value", owner}});
        }
        auto drop_if = [&](const std::string& key, const std::string& value) {
          if (value.empty() || annotation(sa, key) != value) return;
          // It was there before gtoken came: not gtoken's to remove.
          if (std::find(t.preexisting.begin(), t.preexisting.end(), key) != t.preexisting.end()) {
            return;
          }
          std::string path = "/metadata/annotations/" + kube::json_pointer_escape(key);
          patch.push_back({{"op", "test"}, {"path", path}, {"value", value}});
          patch.push_back({{"op", "remove"}, {"path", path}});
        };
        drop_if(keys::kGcpServiceAccount, t.gsa);
        drop_if(keys::kRoleArn, t.role_arn);
        for (const char* k : {keys::kBinding, keys::kAudience, keys::kRegion, keys::kContainers}) {
          drop_if(k, annotation(sa, k));
        }
        bool removes = std::any_of(patch.begin(), patch.end(),
                                   [](const json& op) { return op["op"] == "remove"; });
        if (removes) {
          client_->patch(res::service_accounts(), ns, t.ksa, kube::PatchType::Json, patch);
          log::info("removed annotations", {{"namespace", ns}, {"serviceAccount", t.ksa}});
        }
      }
      break;
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) break;
      // 409 (preconditions) or 422 (a test failed): it changed; look again.
      if ((e.is_conflict() || e.is_invalid()) && attempt < 3) continue;
      throw;
    }
  }
  // Google IAM: the Workload Identity member, unless the binding still wants
  // it or another binding has the same one.
  bool same_member = still_wanted && still_wanted->ksa == t.ksa && still_wanted->gsa == t.gsa &&
                     still_wanted->project == t.project;
  if (!same_member && !other_binding_uses(ns, self, t)) remove_member(t, ns);
}

bool Reconciler::gsa_missing(const std::string& email) {
  std::string project = gsa_project(email);
  if (project.empty()) return false;
  try {
    iam_->get_service_account(email, project);
    return false;
  } catch (const GoogleError& e) {
    return e.is_not_found();
  } catch (const kube::NetworkError&) {
    return false;
  }
}

Reconciler::WiResult Reconciler::ensure_member(const Target& t, const std::string& ns) {
  WiResult r;
  std::string member = workload_identity_member(t.project, ns, t.ksa);
  try {
    json gsa = service_account(t.gsa);
    r.unique_id = gsa.value("uniqueId", "");
    if (gsa.value("disabled", false)) {
      r.reason = "GcpServiceAccountDisabled";
      r.message = "Google service account " + t.gsa +
                  " is disabled, so it cannot mint tokens: enable it (gcloud iam "
                  "service-accounts enable " + t.gsa + ")";
      return r;
    }
    // Read-modify-write with the etag, 409 retried with backoff, batched
    // with other bindings of the same GSA (operator/policy_writer.hpp).
    policies_->apply(t.gsa, kWorkloadIdentityUserRole, member, /*add=*/true);
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
    } else if (e.is_not_found() || (e.is_permission_denied() && gsa_missing(t.gsa))) {
      r.reason = "GcpServiceAccountNotFound";
      r.message = "Google service account " + t.gsa +
                  " does not exist: create it (gcloud iam service-accounts create) or fix "
                  "spec.gcpServiceAccount";
    } else if (e.is_permission_denied()) {
      r.reason = "PermissionDenied";
      r.message = "Google denied access to " + t.gsa +
                  " (or it does not exist): give the operator's Google identity "
                  "roles/iam.serviceAccountAdmin on it, or fix spec.gcpServiceAccount. " +
                  e.what();
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
  if (!r.ok) {
    // Whatever went wrong, look again next time rather than trust the cache.
    std::lock_guard lock(sa_cache_mu_);
    sa_cache_.erase(t.gsa);
  }
  return r;
}

void Reconciler::remove_member(const Target& t, const std::string& ns) {
  std::string member = workload_identity_member(t.project, ns, t.ksa);
  try {
    policies_->apply(t.gsa, kWorkloadIdentityUserRole, member, /*add=*/false);
  } catch (const GoogleError& e) {
    // The GSA is gone, and its policy with it. Under projects/- Google says
    // 403 for that too: ask under the GSA's own project.
    if (e.is_not_found() || (e.is_permission_denied() && gsa_missing(t.gsa))) {
      policies_->forget(t.gsa);
      return;
    }
    throw;
  }
}

int Reconciler::count_missed_pods(const std::string& ns, const std::string& ksa,
                                  std::vector<std::string>& names) {
  kube::ListOptions o;
  o.field_selector = "spec.serviceAccountName=" + ksa;
  // From the apiserver's watch cache: a consistent list would wait for the
  // cache to catch up with etcd (tens of ms each), and an informational
  // count does not need it.
  o.resource_version = "0";
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
               {"eventTime", kube::format_micro_time(now)},
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

namespace {

std::vector<Target> targets_of(const json& status) {
  std::vector<Target> out;
  if (status.contains("appliedTargets") && status["appliedTargets"].is_array()) {
    for (const auto& j : status["appliedTargets"]) {
      if (!j.is_object()) continue;
      Target t = Target::from_json(j);
      if (t.valid()) {
        out.push_back(std::move(t));
      } else {
        // Not something gtoken wrote: never turned into a request.
        log::warn("dropping an invalid status.appliedTargets entry",
                  {{"serviceAccountName", kube::quote_untrusted(t.ksa)},
                   {"gcpServiceAccount", kube::quote_untrusted(t.gsa)}});
      }
    }
  }
  return out;
}

const json* find_condition(const json& conditions, const std::string& type) {
  if (!conditions.is_array()) return nullptr;
  for (const auto& c : conditions) {
    if (c.value("type", "") == type) return &c;
  }
  return nullptr;
}

std::string describe(const Target& t) {
  return "ServiceAccount " + t.ksa + " / " + t.gsa + " / " + t.role_arn;
}

}  // namespace

kube::Result Reconciler::reconcile_live(const std::string& ns, const std::string& name, json b) {
  bool has_finalizer = false;
  if (b["metadata"].contains("finalizers")) {
    for (const auto& f : b["metadata"]["finalizers"]) has_finalizer |= f == keys::kFinalizer;
  }
  if (!has_finalizer) b = add_finalizer(ns, name, b);

  // Tenancy first: a binding no policy allows reads nothing more and changes
  // nothing on Google or the ServiceAccount (and undoes what it once set up).
  // Before both caches have listed, a verdict could wrongly unwind.
  if (gate_ && !gate_->synced()) return kube::Result::requeue_after(std::chrono::seconds(1));
  tenancy::Verdict verdict;
  if (gate_) {
    verdict = gate_->check(b);
  } else {
    verdict.message = "the operator runs without AwsRoleBindingPolicies: no binding is allowed";
  }
  if (!verdict.allowed) return refuse(ns, std::move(b), verdict);

  const json spec = b.value("spec", json::object());
  int64_t generation = b["metadata"].value("generation", int64_t{0});
  std::string now = kube::format_rfc3339(clock_->now());
  Target desired{spec.value("serviceAccountName", ""), spec.value("gcpServiceAccount", ""),
                 spec.value("awsRoleArn", ""), config_.project, false, {}};
  std::string audience = audience_of(spec);

  json status = b.value("status", json::object());
  std::vector<Target> applied = targets_of(status);
  json conditions = status.value("conditions", json::array());
  const json before = conditions;

  // Two bindings naming one ServiceAccount: only its owner touches it.
  json sa = nullptr;
  try {
    sa = client_->get(res::service_accounts(), ns, desired.ksa);
  } catch (const kube::ApiError& e) {
    if (!e.is_not_found()) throw;
  }
  json owner_obj = ksa_owner(ns, b, desired.ksa, sa);
  std::string owner = owner_obj.is_null() ? name : owner_obj["metadata"].value("name", "");
  bool conflict = owner != name;
  // A ServiceAccount annotated outside gtoken (no gtoken.io/binding, not
  // created by this binding) with another GSA or role is someone else's:
  // never overwritten. The same values are adopted and left as found.
  std::string foreign;
  const bool hand_annotated = sa.is_object() && annotation(sa, keys::kBinding).empty() &&
                              annotation(sa, keys::kCreatedBy) != name;
  if (!conflict && hand_annotated) {
    for (const auto& [key, value] : {std::pair<std::string, std::string>{keys::kGcpServiceAccount, desired.gsa},
                                     {keys::kRoleArn, desired.role_arn}}) {
      const std::string current = annotation(sa, key);
      if (!current.empty() && current != value) {
        foreign = key + "=" + current;
        break;
      }
    }
  }
  if (!foreign.empty()) conflict = true;

  // Record the intent before acting, so a crash or a later change can undo it.
  bool recorded = std::any_of(applied.begin(), applied.end(),
                              [&](const Target& t) { return t.same_as(desired); });
  if (!recorded && !conflict) {
    if (hand_annotated) {
      const json want = wanted_annotations(name, spec, config_.default_audience);
      for (const auto& [key, value] : want.items()) {
        if (value.is_string() && annotation(sa, key) == value.get<std::string>()) {
          desired.preexisting.push_back(key);
        }
      }
    }
    json targets = json::array();
    for (const auto& t : applied) targets.push_back(t.to_json());
    targets.push_back(desired.to_json());
    b["status"] = status;
    b["status"]["appliedTargets"] = targets;
    b = write_status(ns, b);
    applied.push_back(desired);
  }

  // Make before break: set up what the spec wants, then undo the rest.
  WiResult wi;
  if (!conflict) {
    ensure_service_account(ns, name, spec, desired, sa);
    wi = ensure_member(desired, ns);
  }
  // Undo what earlier specs set up and this one no longer wants (for a
  // binding in conflict: everything it set up before it lost the
  // ServiceAccount; the ServiceAccount itself is the owner's).
  std::vector<Target> remaining;
  std::string cleanup_error;
  for (const auto& t : applied) {
    if (!conflict && t.same_as(desired)) {
      Target kept = t;
      kept.created_sa = kept.created_sa || desired.created_sa;
      remaining.push_back(kept);
      continue;
    }
    try {
      cleanup_target(ns, b, t, conflict ? nullptr : &desired, !conflict);
    } catch (const NotLeader&) {
      throw;
    } catch (const std::exception& e) {
      remaining.push_back(t);  // retried with the next reconcile
      cleanup_error = "undoing the earlier setup (" + describe(t) + ") failed and is retried: " +
                      e.what();
    }
  }

  std::vector<std::string> missed_names;
  if (conflict) {
    std::string msg =
        foreign.empty()
            ? "ServiceAccount " + desired.ksa + " is already bound by AwsRoleBinding " + owner +
                  "; delete one of the two bindings or point this one at another ServiceAccount"
            : "ServiceAccount " + desired.ksa + " already carries " + foreign +
                  ", set outside gtoken, which gtoken never overwrites: remove that annotation "
                  "or point this binding at another ServiceAccount";
    set_condition(conditions, kSaReady, "False", contract::kReasonConflict, msg, generation, now);
    set_condition(conditions, kWiReady, "Unknown", contract::kReasonConflict,
                  "not reconciled while in conflict", generation, now);
    set_condition(conditions, kReady, "False", contract::kReasonConflict, msg, generation, now);
  } else {
    set_condition(conditions, kSaReady, "True", "Annotated",
                  "ServiceAccount " + desired.ksa + " carries " + keys::kGcpServiceAccount +
                      " and " + keys::kRoleArn,
                  generation, now);
    set_condition(conditions, kWiReady, wi.ok ? "True" : "False", wi.reason, wi.message,
                  generation, now);
    if (!wi.ok) {
      set_condition(conditions, kReady, "False", wi.reason, wi.message, generation, now);
    } else if (!cleanup_error.empty()) {
      set_condition(conditions, kReady, "False", "CleanupFailed",
                    "the new setup is in place, but " + cleanup_error, generation, now);
    } else {
      set_condition(conditions, kReady, "True", "Ready",
                    "pods of ServiceAccount " + desired.ksa + " can assume " + desired.role_arn +
                        " once the role's trust policy is status.awsTrustPolicy",
                    generation, now);
    }
    count_missed_pods(ns, desired.ksa, missed_names);
  }

  json st = b.value("status", json::object());
  int previous_missed = st.value("podsMissingInjection", 0);
  st["observedGeneration"] = generation;
  st["conditions"] = conditions;
  json targets = json::array();
  for (const auto& t : remaining) targets.push_back(t.to_json());
  st["appliedTargets"] = targets;
  if (!conflict) {
    st["workloadIdentityMember"] = workload_identity_member(desired.project, ns, desired.ksa);
    st["podsMissingInjection"] = static_cast<int>(missed_names.size());
  } else {
    st.erase("workloadIdentityMember");
    st.erase("podsMissingInjection");
  }
  // The uniqueId and trust policy always describe the GSA the spec names:
  // dropped when it could not be read.
  if (!conflict && !wi.unique_id.empty()) {
    st["gcpServiceAccountUniqueId"] = wi.unique_id;
    st["awsTrustPolicy"] = aws_trust_policy(wi.unique_id, audience).dump(2);
  } else {
    st.erase("gcpServiceAccountUniqueId");
    st.erase("awsTrustPolicy");
  }
  if (b.value("status", json::object()) != st) {
    b["status"] = st;
    b = write_status(ns, b);
  }

  ready_event(b, before, conditions);
  if (!missed_names.empty() && static_cast<int>(missed_names.size()) != previous_missed) {
    std::vector<std::string> shown(missed_names.begin(),
                                   missed_names.begin() + std::min<size_t>(10, missed_names.size()));
    event(b, "Warning", "PodsMissingInjection",
          std::to_string(missed_names.size()) + " running pod(s) of ServiceAccount " + desired.ksa +
              " have no gtoken injection (created before the binding or while the webhook was "
              "unreachable); restart them: " + join(shown, ", "));
  }

  if (!cleanup_error.empty()) return kube::Result::error(cleanup_error);
  if (!conflict && !wi.ok) return kube::Result::error(wi.reason + ": " + wi.message);
  return kube::Result::requeue_after(config_.resync);
}

void Reconciler::ready_event(const json& b, const json& before, const json& conditions) {
  // An Event each time Ready changes status or reason (Ready carries the
  // reason of whichever part is not ready, so this covers every condition).
  const json* was = find_condition(before, kReady);
  const json* is = find_condition(conditions, kReady);
  if (is && (!was || was->value("status", "") != is->value("status", "") ||
             was->value("reason", "") != is->value("reason", ""))) {
    event(b, is->value("status", "") == "True" ? "Normal" : "Warning", is->value("reason", ""),
          is->value("message", ""));
  }
}

kube::Result Reconciler::refuse(const std::string& ns, json b, const tenancy::Verdict& verdict) {
  const std::string name = b["metadata"].value("name", "");
  const int64_t generation = b["metadata"].value("generation", int64_t{0});
  const std::string now = kube::format_rfc3339(clock_->now());
  json status = b.value("status", json::object());
  json conditions = status.value("conditions", json::array());
  const json before = conditions;

  // Unwound exactly as on delete: what this binding set up while it was
  // allowed goes; it comes back by itself when a policy allows it again.
  std::vector<Target> remaining;
  std::string cleanup_error;
  for (const auto& t : targets_of(status)) {
    try {
      cleanup_target(ns, b, t, nullptr, true);
    } catch (const NotLeader&) {
      throw;
    } catch (const std::exception& e) {
      remaining.push_back(t);
      cleanup_error = "undoing the earlier setup (" + describe(t) + ") failed and is retried: " +
                      e.what();
    }
  }
  const std::string& msg = verdict.message;
  for (const char* type : {kSaReady, kWiReady}) {
    set_condition(conditions, type, "False", contract::kReasonNotAllowed, "not set up: " + msg,
                  generation, now);
  }
  set_condition(conditions, kReady, "False", contract::kReasonNotAllowed,
                cleanup_error.empty() ? msg : msg + "; " + cleanup_error, generation, now);

  json st = status;
  st["observedGeneration"] = generation;
  st["conditions"] = conditions;
  json targets = json::array();
  for (const auto& t : remaining) targets.push_back(t.to_json());
  st["appliedTargets"] = targets;
  for (const char* k : {"workloadIdentityMember", "podsMissingInjection",
                        "gcpServiceAccountUniqueId", "awsTrustPolicy"}) {
    st.erase(k);
  }
  if (status != st) {
    b["status"] = st;
    b = write_status(ns, b);
  }
  const json* was = find_condition(before, kReady);
  if (!was || was->value("reason", "") != contract::kReasonNotAllowed) {
    log::warn("binding not allowed by any AwsRoleBindingPolicy",
              {{"binding", ns + "/" + name}, {"message", msg}});
  }
  ready_event(b, before, conditions);
  if (!cleanup_error.empty()) return kube::Result::error(cleanup_error);
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

  json status = b.value("status", json::object());
  std::vector<Target> targets = targets_of(status);
  try {
    for (const auto& t : targets) cleanup_target(ns, b, t, nullptr, true);
  } catch (const NotLeader&) {
    throw;
  } catch (const std::exception& e) {
    std::string msg = std::string("cleanup is stuck and will be retried: ") + e.what() +
                      ". To let the object go without cleanup, remove the finalizer " +
                      keys::kFinalizer + " by hand";
    json conditions = status.value("conditions", json::array());
    const json* was = find_condition(conditions, kReady);
    bool reason_changed = !was || was->value("reason", "") != "CleanupFailed";
    int64_t generation = b["metadata"].value("generation", int64_t{0});
    if (set_condition(conditions, kReady, "False", "CleanupFailed", msg, generation,
                      kube::format_rfc3339(clock_->now()))) {
      b["status"]["conditions"] = conditions;
      try {
        b = write_status(ns, b);
      } catch (const kube::ApiError&) {
        // The next attempt writes it again.
      }
      if (reason_changed) event(b, "Warning", "CleanupFailed", msg);
    }
    return kube::Result::error(msg);
  }
  check_leader();
  std::string path = "/metadata/finalizers/" + std::to_string(index);
  json patch = json::array({{{"op", "test"}, {"path", path}, {"value", keys::kFinalizer}},
                            {{"op", "remove"}, {"path", path}}});
  try {
    client_->patch(res::aws_role_bindings(), ns, name, kube::PatchType::Json, patch);
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) return kube::Result::ok();
    if (e.is_invalid()) return kube::Result::requeue();  // the list moved: read it again
    throw;
  }
  log::info("cleaned up and released binding", {{"binding", ns + "/" + name}});
  return kube::Result::ok();
}

}  // namespace gtoken
