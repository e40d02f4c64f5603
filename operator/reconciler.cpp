#include "operator/reconciler.hpp"

#include <algorithm>

#include "aws/credential_source.hpp"
#include "kube/errors.hpp"
#include "kube/finalizers.hpp"
#include "kube/log.hpp"
#include "kube/names.hpp"
#include "kube/time.hpp"
#include "operator/policy.hpp"

namespace gtoken {

using json = nlohmann::json;
namespace res = kube::resources;

namespace {

constexpr const char* kReady = contract::kConditionReady;

// The reconciler's metric families (docs/reference.md, "Metrics").
constexpr kube::MetricFamily kReconciles{"gtoken_reconcile_total", kube::MetricType::counter,
                                         "AwsRoleBinding reconciles by result"};
constexpr double kReconcileBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
constexpr kube::MetricFamily kReconcileDuration{
    "gtoken_reconcile_duration_seconds", kube::MetricType::histogram,
    "time to reconcile one AwsRoleBinding", kReconcileBuckets};
constexpr kube::MetricFamily kPolicyWrites{
    "gtoken_iam_policy_writes_total", kube::MetricType::counter,
    "setIamPolicy calls that succeeded (each may carry several bindings)"};

}  // namespace

void describe_reconciler_metrics(kube::Metrics& metrics) {
  for (const auto* f : {&kReconciles, &kReconcileDuration, &kPolicyWrites}) metrics.describe(*f);
}

bool binding_update_needs_reconcile(const json& old_obj, const json& new_obj) {
  const json& o = old_obj.value("metadata", json::object());
  const json& n = new_obj.value("metadata", json::object());
  return o.value("generation", int64_t{0}) != n.value("generation", int64_t{0}) ||
         o.value("uid", "") != n.value("uid", "") ||
         o.contains("deletionTimestamp") != n.contains("deletionTimestamp") ||
         // our finalizer taken away (by hand) must be put back; adding it
         // was our own write
         (kube::has_finalizer(old_obj, keys::kFinalizer) &&
          !kube::has_finalizer(new_obj, keys::kFinalizer));
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
    bool partial = false;
    for (const auto& [k, v] : st.items()) {
      if (k != "appliedTargets") partial = true;
    }
    if (partial) out[kPartialStatus] = true;
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

bool cached_binding_usable(const json& cached) {
  return !cached.contains(kPartialStatus) &&
         !cached.value("metadata", json::object()).contains("deletionTimestamp");
}

std::string gsa_project(const std::string& email) { return tenancy::project_of(email); }

Reconciler::Reconciler(std::shared_ptr<kube::Client> client, std::shared_ptr<IamClient> iam,
                       ReconcilerConfig config, ReconcilerDeps deps)
    : Reconciler(client_io(std::move(client)), google_io(std::move(iam)), std::move(config),
                 std::move(deps)) {}

Reconciler::Reconciler(std::shared_ptr<KubeIo> io, GoogleIo google, ReconcilerConfig config,
                       ReconcilerDeps deps)
    : io_(std::move(io)),
      google_(std::move(google)),
      config_(std::move(config)),
      plan_config_{config_.project, config_.default_audience, config_.resync, config_.oidc_issuer},
      bindings_(std::move(deps.bindings)),
      service_accounts_(std::move(deps.service_accounts)),
      pods_(std::move(deps.pods)),
      index_(std::move(deps.index)),
      gate_(std::move(deps.gate)),
      metrics_(std::move(deps.metrics)),
      aws_(std::move(deps.aws)),
      is_leader_(std::move(deps.is_leader)),
      clock_(std::move(deps.clock)),
      random_(std::move(deps.random)),
      cache_ttl_(std::min<std::chrono::milliseconds>(
          config_.google_cache_ttl,
          std::chrono::duration_cast<std::chrono::milliseconds>(config_.resync) / 2)) {
  PolicyWriter::Options o;
  o.cache_ttl = cache_ttl_;
  o.conflict_retries = config_.iam_conflict_retries;
  o.backoff = {config_.iam_backoff_base, config_.iam_backoff_cap, 2.0, kube::Jitter::Full};
  o.before_write = [this] { check_leader(); };
  o.on_write = [this](const std::string& gsa, size_t changes) {
    if (metrics_) metrics_->inc(kPolicyWrites);
    kube::process_logger().debug("wrote IAM policy", {{"gsa", gsa}, {"changes", changes}});
  };
  policies_ = std::make_unique<PolicyWriter>(
      [this](const std::string& gsa) { return google_.get_iam_policy(gsa); },
      [this](const std::string& gsa, const json& policy) {
        return google_.set_iam_policy(gsa, policy);
      },
      [](const std::exception& e) {
        auto* g = dynamic_cast<const GoogleError*>(&e);
        return g && g->is_aborted();
      },
      o, clock_, random_);
  if (config_.apply_trust && aws_.configured()) {
    TrustWriterOptions to;
    to.role_path = config_.trust_role_path;
    to.before_write = [this] { check_leader(); };
    to.on_write = [](const std::string& role_arn) {
      kube::process_logger().info("wrote trust policy", {{"role", role_arn}});
    };
    trust_writer_ = std::make_unique<TrustWriter>(
        aws_, [this](const std::string& role_arn) { return grants_.of(role_arn); }, to, clock_,
        random_);
  }
}

json Reconciler::service_account(const std::string& email) {
  auto now = clock_->now();
  {
    std::lock_guard lock(sa_cache_mu_);
    auto it = sa_cache_.find(email);
    if (it != sa_cache_.end() && now - it->second.second < cache_ttl_) return it->second.first;
  }
  json gsa = google_.get_service_account(email, "-");
  std::lock_guard lock(sa_cache_mu_);
  sa_cache_[email] = {gsa, now};
  return gsa;
}

namespace {

// What reading or writing a role that failed with `e` says about it.
TrustObservation iam_failure(const std::exception& e) {
  TrustObservation seen;
  seen.kind = TrustObservation::Kind::IamError;
  seen.detail = e.what();
  if (const auto* iam = dynamic_cast<const aws::IamCallError*>(&e)) {
    if (iam->no_such_entity()) seen.kind = TrustObservation::Kind::RoleNotFound;
    if (iam->access_denied()) seen.kind = TrustObservation::Kind::AccessDenied;
  } else if (dynamic_cast<const kube::NetworkError*>(&e)) {
    seen.detail = std::string("IAM cannot be reached: ") + e.what();
  }
  return seen;
}

}  // namespace

void Reconciler::forget_role(const std::string& role_arn) {
  if (auto name = aws::role_name_of_arn(role_arn)) {
    std::lock_guard lock(role_cache_mu_);
    role_cache_.erase(*name);
  }
}

TrustObservation Reconciler::read_role(const std::string& role_name) {
  const auto now = clock_->now();
  {
    std::lock_guard lock(role_cache_mu_);
    auto it = role_cache_.find(role_name);
    if (it != role_cache_.end() && now - it->second.second < cache_ttl_) return it->second.first;
  }
  TrustObservation seen;
  try {
    seen.document = aws_.get_role(role_name).trust_policy;
    seen.kind = TrustObservation::Kind::Read;
  } catch (const NotLeader&) {
    throw;
  } catch (const std::exception& e) {
    seen = iam_failure(e);
  }
  // Failures are not cached: the retry asks IAM again.
  if (seen.kind != TrustObservation::Kind::IamError) {
    std::lock_guard lock(role_cache_mu_);
    role_cache_[role_name] = {seen, now};
  }
  return seen;
}

TrustCondition Reconciler::check_trust(const BindingView& b, const Target& desired,
                                       const std::string& unique_id, const std::string& note) {
  if (!config_.verify_trust || !aws_.configured()) return unverified(config_.trust_unverified_why);
  const auto role_name = aws::role_name_of_arn(desired.role_arn);
  if (!role_name) return unverified(desired.role_arn + " is not a role ARN gtoken can read");
  std::string provider_arn;
  if (desired.kubernetes()) {
    provider_arn = oidc_provider_arn(config_.oidc_issuer, desired.role_arn);
    if (provider_arn.empty()) {
      return unverified("the cluster's ServiceAccount token issuer is unknown (--oidc-issuer)");
    }
  } else if (unique_id.empty()) {
    return unverified("the Google service account's uniqueId is not known yet");
  }
  const aws::WebIdentityRequest request = binding_web_identity(b, unique_id, provider_arn);
  TrustObservation seen = read_role(*role_name);
  if (seen.kind == TrustObservation::Kind::Read) seen.detail = note;
  return trust_condition(seen, request, desired.role_arn);
}

namespace {

// "arn:PARTITION:iam::ACCOUNT:role/..." -> {PARTITION, ACCOUNT}.
std::pair<std::string, std::string> partition_and_account(const std::string& role_arn) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    const size_t colon = role_arn.find(':', start);
    if (colon == std::string::npos) throw std::invalid_argument("not an ARN: " + role_arn);
    parts.push_back(role_arn.substr(start, colon - start));
    start = colon + 1;
  }
  return {parts[1], parts[4]};
}

// What a sync says about the role, as the condition reads it.
TrustObservation observed(const TrustSync& s) {
  using K = TrustObservation::Kind;
  using O = TrustSync::Outcome;
  TrustObservation o;
  o.kind = s.outcome == O::TooLarge       ? K::TooLarge
           : s.outcome == O::RoleNotFound ? K::RoleNotFound
           : s.outcome == O::Conflict     ? K::Conflict
                                          : K::Read;  // Unchanged, Written, OutsidePath
  if (o.kind == K::Read) o.document = s.role.trust_policy;
  // Written and Unchanged need no note; OutsidePath says why it was not written.
  if (s.outcome != O::Unchanged && s.outcome != O::Written) o.detail = s.message;
  return o;
}

}  // namespace

void Reconciler::sync_roles(const std::vector<std::string>& roles) {
  for (const auto& role : roles) {
    if (!grants_.complete(role, *bindings_)) continue;  // written once every binding is known
    trust_writer_->sync(role);
    forget_role(role);
  }
}

void Reconciler::release_trust(const std::string& key, const std::string& role_arn) {
  if (!trust_writer_ || !aws::role_name_of_arn(role_arn)) return;
  std::vector<std::string> roles = grants_.set(key, role_arn, std::nullopt);
  // After a restart this process may not know what the binding was granted
  // before: its spec's role is synced in any case (Unchanged when nothing of
  // it was there).
  if (std::find(roles.begin(), roles.end(), role_arn) == roles.end()) roles.push_back(role_arn);
  sync_roles(roles);
}

TrustCondition Reconciler::apply_trust(const BindingView& b, const Target& desired,
                                       const std::string& unique_id, bool may_write) {
  const std::string key = b.ns + "/" + b.name;
  const std::string no_apply =
      "gtoken did not write it: no AwsRoleBindingPolicy that allows this binding says "
      "trustPolicy: Apply";
  if (!may_write) {
    try {
      sync_roles(grants_.set(key, desired.role_arn, std::nullopt));
    } catch (const std::exception& e) {
      // The role it wanted before keeps its statement until a sync succeeds.
      kube::process_logger().warn("could not remove a binding from its old role",
                                  {{"binding", key}, {"error", e.what()}});
    }
    return check_trust(b, desired, unique_id, no_apply);
  }
  std::string provider_arn;
  aws::TrustGrant grant;
  TrustObservation seen;
  try {
    if (desired.kubernetes()) {
      provider_arn = oidc_provider_arn(config_.oidc_issuer, desired.role_arn);
      if (provider_arn.empty()) {
        return unverified("the cluster's ServiceAccount token issuer is unknown (--oidc-issuer)");
      }
      const auto [partition, account] = partition_and_account(desired.role_arn);
      trust_writer_->ensure_oidc_provider(partition, account, config_.oidc_issuer, b.audience);
      grant = aws::kubernetes_grant(provider_arn, b.ns, desired.ksa, b.audience);
    } else {
      if (unique_id.empty()) return unverified("the Google service account's uniqueId is not known yet");
      grant = aws::google_grant(unique_id, b.audience);
    }
    std::vector<std::string> roles = grants_.set(key, desired.role_arn, grant);
    roles.erase(std::remove(roles.begin(), roles.end(), desired.role_arn), roles.end());
    sync_roles(roles);  // a role this binding left
    if (!grants_.complete(desired.role_arn, *bindings_)) {
      return check_trust(b, desired, unique_id,
                         "gtoken writes it once every binding of the role has been reconciled");
    }
    seen = observed(trust_writer_->sync(desired.role_arn));
    forget_role(desired.role_arn);
  } catch (const NotLeader&) {
    throw;
  } catch (const std::exception& e) {
    seen = iam_failure(e);
  }
  return trust_condition(seen, binding_web_identity(b, unique_id, provider_arn),
                         desired.role_arn);
}



bool Reconciler::take_live(const std::string& key) {
  std::lock_guard lock(live_mu_);
  return live_keys_.erase(key) > 0;
}

void Reconciler::mark_live(const std::string& key) {
  std::lock_guard lock(live_mu_);
  live_keys_.insert(key);
}

std::optional<json> Reconciler::read_binding(const std::string& ns, const std::string& name,
                                             bool live) {
  // The informer's copy is at least as new as the event that queued the key;
  // if it is older than the apiserver's, every binding write made from it
  // (finalizer merge patch, status PUT) carries its resourceVersion and is
  // refused with 409, and the next reconcile reads live.
  if (!live && bindings_) {
    if (kube::ObjectPtr cached = bindings_->get(ns, name)) {
      if (cached_binding_usable(*cached)) return *cached;
    }
  }
  // Not cached (deleted, or not seen yet), held only in part, or deleting.
  return io_->get_opt(res::aws_role_bindings(), ns, name);
}

json Reconciler::read_service_account(const std::string& ns, const std::string& name, bool live) {
  if (!live && service_accounts_) {
    // Absent from the cache means absent: a create of one that exists after
    // all fails with 409 AlreadyExists, and an apply or patch carries the
    // cached resourceVersion, so a stale copy costs one refused write.
    kube::ObjectPtr cached = service_accounts_->get(ns, name);
    return cached ? *cached : json(nullptr);
  }
  return io_->get_opt(res::service_accounts(), ns, name).value_or(json(nullptr));
}

void Reconciler::check_leader() const {
  if (!is_leader_()) throw NotLeader();
}

std::vector<kube::ObjectPtr> Reconciler::candidates(const std::string& ns,
                                                    const std::string& ksa) const {
  return index_ ? index_->bindings(*bindings_, ns, ksa) : bindings_->list(ns);
}

kube::Result Reconciler::reconcile(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return kube::Result::terminal_error("bad key " + key);
  std::string ns = key.substr(0, slash);
  std::string name = key.substr(slash + 1);
  auto start = std::chrono::steady_clock::now();
  kube::Result result = kube::Result::ok();
  std::string outcome = "success";
  const bool live = take_live(key);
  try {
    std::optional<json> read = read_binding(ns, name, live);
    if (!read) return kube::Result::ok();
    BindingView b = view_binding(std::move(*read), config_.default_audience);
    for (const auto& t : b.dropped) {
      // Not something gtoken wrote: never turned into a request.
      kube::process_logger().warn("dropping an invalid status.appliedTargets entry",
                                  {{"serviceAccountName", kube::quote_untrusted(t.ksa)},
                                   {"gcpServiceAccount", kube::quote_untrusted(t.gsa)}});
    }
    result = b.deleting ? finalize(b) : reconcile_live(std::move(b), live);
    if (result.is_error()) outcome = "error";
  } catch (const NotLeader&) {
    outcome = "not_leader";
    result = kube::Result::ok();
  } catch (const kube::ApiError& e) {
    // 409: someone wrote the object after we read it (or the cache had not
    // caught up); read again soon, live. A 404 or 422 on a write may be a
    // stale cache too.
    if (e.is_conflict() || e.is_not_found() || e.is_invalid()) mark_live(key);
    outcome = e.is_conflict() ? "conflict" : "error";
    if (e.is_conflict())
      kube::process_logger().debug("conflict; read again", {{"binding", key}, {"error", e.what()}});
    result = e.is_conflict() ? kube::Result::requeue() : kube::Result::error(e.what());
  } catch (const std::exception& e) {
    outcome = "error";
    result = kube::Result::error(e.what());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (metrics_) {
    metrics_->inc(kReconciles, {{"result", outcome}});
    metrics_->observe(kReconcileDuration, secs);
  }
  if (result.is_error()) {
    kube::process_logger().warn("reconcile failed",
                                {{"binding", key}, {"error", result.message()}});
  }
  return result;
}

json Reconciler::ksa_owner(const json& self, const std::string& ksa, const json& sa) const {
  const std::string ns = self["metadata"].value("namespace", "");
  std::string invalid;
  const std::string recorded = recorded_owner(sa, &invalid);
  if (!invalid.empty()) {
    kube::process_logger().warn(
        "ignoring an invalid " + std::string(keys::kBinding) + " annotation",
        {{"namespace", ns}, {"serviceAccount", ksa}, {"value", kube::quote_untrusted(invalid)}});
  }
  const std::vector<json> claiming = claimants(self, ksa, candidates(ns, ksa));
  json read_owner = nullptr;
  const std::string to_read = owner_to_read(self, claiming, recorded);
  if (!to_read.empty()) {
    if (auto o = io_->get_opt(res::aws_role_bindings(), ns, to_read)) read_owner = std::move(*o);
  }
  return gtoken::ksa_owner(self, ksa, claiming, recorded, read_owner);
}

void Reconciler::ensure_service_account(const BindingView& b, Target& t, json sa) {
  if (!sa.is_object()) {
    // Created with every annotation at once (one write; the watch event it
    // causes already matches, so it does not bring the binding back).
    check_leader();
    // 409 AlreadyExists: someone (maybe another binding) created it since it
    // was read; the reconcile starts over and decides ownership on it.
    sa = io_->create(res::service_accounts(), b.ns,
                     service_account_to_create(b, t.ksa, plan_config_));
    kube::process_logger().info("created ServiceAccount",
                                {{"namespace", b.ns}, {"serviceAccount", t.ksa}});
  }
  SaApply a = plan_service_account_apply(b, t, sa, plan_config_);
  t.created_sa = a.created_by_binding;
  if (a.apply.is_null()) return;

  check_leader();
  sa = io_->apply(res::service_accounts(), b.ns, a.apply);
  kube::process_logger().info("annotated ServiceAccount",
                              {{"namespace", b.ns}, {"serviceAccount", t.ksa}});
  if (auto patch = stale_optional_annotations(a.want, sa, a.optional_keys)) {
    io_->patch(res::service_accounts(), b.ns, t.ksa, kube::PatchType::Json, *patch);
  }
}

void Reconciler::cleanup_target(const BindingView& b, const Target& t, const Target* still_wanted,
                                bool touch_service_account) {
  // ServiceAccount: only when it is still this binding's, and not the one
  // the binding goes on using.
  const bool skip_sa = cleanup_skips_service_account(t, still_wanted, touch_service_account);
  for (int attempt = 0; !skip_sa; ++attempt) {
    std::optional<json> sa = io_->get_opt(res::service_accounts(), b.ns, t.ksa);
    if (!sa) break;
    SaCleanup c = plan_sa_cleanup(*sa, b.name, t, candidates(b.ns, t.ksa));
    if (!c.ours) break;
    check_leader();
    try {
      if (c.kind == SaCleanup::Kind::Delete) {
        kube::DeleteOptions d;
        d.precondition_uid = c.uid;
        d.precondition_resource_version = c.resource_version;
        io_->remove(res::service_accounts(), b.ns, t.ksa, d);
        kube::process_logger().info("deleted ServiceAccount it had created",
                                    {{"namespace", b.ns}, {"serviceAccount", t.ksa}});
      } else if (c.kind == SaCleanup::Kind::Patch) {
        io_->patch(res::service_accounts(), b.ns, t.ksa, kube::PatchType::Json, c.patch);
        kube::process_logger().info("removed annotations",
                                    {{"namespace", b.ns}, {"serviceAccount", t.ksa}});
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
  if (t.kubernetes() || member_still_wanted(t, still_wanted)) return;
  // The ServiceAccount is read again here (it may have changed above) to
  // decide ownership.
  json sa = io_->get_opt(res::service_accounts(), b.ns, t.ksa).value_or(json(nullptr));
  json owner = ksa_owner(b.object, t.ksa, sa);
  if (!member_kept_by_owner(owner, b.name, t, config_.project)) remove_member(t, b.ns);
}

void Reconciler::cleanup_targets(const BindingView& b, const std::vector<Target>& targets,
                                 const Target* still_wanted, bool touch_service_account,
                                 std::vector<Target>& remaining, std::string& error) {
  for (const auto& t : targets) {
    try {
      cleanup_target(b, t, still_wanted, touch_service_account);
    } catch (const NotLeader&) {
      throw;
    } catch (const std::exception& e) {
      remaining.push_back(t);  // retried with the next reconcile
      error = "undoing the earlier setup (" + describe(t) + ") failed and is retried: " + e.what();
    }
  }
}

bool Reconciler::gsa_missing(const std::string& email) {
  std::string project = gsa_project(email);
  if (project.empty()) return false;
  try {
    google_.get_service_account(email, project);
    return false;
  } catch (const GoogleError& e) {
    return e.is_not_found();
  } catch (const kube::NetworkError&) {
    return false;
  }
}

WiResult Reconciler::ensure_member(const Target& t, const std::string& ns) {
  WiResult r;
  std::string member = workload_identity_member(t.project, ns, t.ksa);
  try {
    r = wi_from_gsa(service_account(t.gsa), t.gsa);
    if (!r.reason.empty()) return r;  // disabled
    // Read-modify-write with the etag, 409 retried with backoff, batched
    // with other bindings of the same GSA (operator/policy_writer.hpp).
    policies_->apply(t.gsa, kWorkloadIdentityUserRole, member, /*add=*/true);
    r = wi_bound(std::move(r), member, t.gsa);
  } catch (const NotLeader&) {
    throw;
  } catch (const GoogleError& e) {
    const bool missing =
        e.http() != 401 && !e.is_not_found() && e.is_permission_denied() && gsa_missing(t.gsa);
    r = wi_google_error(e.http(), e.status(), e.what(), t.gsa, missing, std::move(r));
  } catch (const kube::NetworkError& e) {
    r = wi_unreachable(e.what(), std::move(r));
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

void Reconciler::event(const json& b, const PlannedEvent& e) {
  try {
    check_leader();
    io_->event(b["metadata"].value("namespace", ""),
               event_object(b, e, config_.instance, kube::format_micro_time(clock_->now())));
  } catch (const NotLeader&) {
    throw;
  } catch (const std::exception& ex) {
    // Events are best effort: losing one must not fail the reconcile.
    kube::process_logger().warn("could not record event",
                                {{"reason", e.reason}, {"error", ex.what()}});
  }
}

json Reconciler::write_status(const json& b) {
  check_leader();
  return io_->update_status(res::aws_role_bindings(), b["metadata"].value("namespace", ""), b);
}

void Reconciler::apply_status(const StatusPlan& plan, json& current) {
  if (plan.write) current = write_status(*plan.write);
  for (const auto& e : plan.events) event(current, e);
}

kube::Result Reconciler::reconcile_live(BindingView b, bool live) {
  if (!b.has_finalizer) {
    check_leader();
    json patched = io_->patch(res::aws_role_bindings(), b.ns, b.name, kube::PatchType::Merge,
                              kube::add_finalizer_patch(b.object, keys::kFinalizer));
    b = view_binding(std::move(patched), config_.default_audience);
  }

  // Tenancy first: a binding no policy allows reads nothing more and changes
  // nothing on Google or the ServiceAccount (and undoes what it once set up).
  // Before both caches have listed, a verdict could wrongly unwind.
  if (gate_ && !gate_->synced()) return kube::Result::requeue_after(std::chrono::seconds(1));
  tenancy::Verdict verdict;
  if (gate_) {
    verdict = gate_->check(b.object);
  } else {
    verdict.message = "the operator runs without AwsRoleBindingPolicies: no binding is allowed";
  }
  if (!verdict.allowed) return refuse(b, verdict);

  const std::string now = kube::format_rfc3339(clock_->now());
  json sa = read_service_account(b.ns, b.ksa, live);
  LivePlan plan = plan_live(b, sa, ksa_owner(b.object, b.ksa, sa), plan_config_);
  json current = b.object;
  if (plan.record) current = write_status(*plan.record);

  // Make before break: set up what the spec wants, then undo the rest.
  LiveOutcome out;
  Target desired = plan.desired;
  if (!plan.conflict) {
    ensure_service_account(b, desired, sa);
    if (!desired.kubernetes()) out.wi = ensure_member(desired, b.ns);
  }
  // Undo what earlier specs set up and this one no longer wants (for a
  // binding in conflict: everything it set up before it lost the
  // ServiceAccount; the ServiceAccount itself is the owner's).
  BindingView self = view_binding(current, config_.default_audience);
  for (const auto& t : plan.applied) {
    if (!plan.conflict && t.same_as(desired)) {
      Target kept = t;
      kept.created_sa = kept.created_sa || desired.created_sa;
      out.remaining.push_back(kept);
      continue;
    }
    cleanup_targets(self, {t}, plan.conflict ? nullptr : &desired, !plan.conflict, out.remaining,
                    out.cleanup_error);
  }

  if (!plan.conflict && (desired.kubernetes() || out.wi.ok)) {
    out.trust = trust_writer_ ? apply_trust(b, desired, out.wi.unique_id, verdict.apply_trust)
                              : check_trust(b, desired, out.wi.unique_id);
  } else if (trust_writer_) {
    // Nothing to grant while in conflict or without the GSA: recorded as
    // such, so that the role's other bindings are not held up waiting for
    // this one (TrustGrants::complete).
    try {
      sync_roles(grants_.set(b.ns + "/" + b.name, b.role_arn, std::nullopt));
    } catch (const NotLeader&) {
      throw;
    } catch (const std::exception& e) {
      kube::process_logger().warn("could not remove a binding from its role's trust policy",
                                  {{"binding", b.ns + "/" + b.name}, {"error", e.what()}});
    }
  }

  if (!plan.conflict && pods_) {
    out.missed_pods = pods_->missing(b.ns, desired.ksa, b.kubernetes);
  } else if (!plan.conflict) {
    kube::ListOptions o;
    o.field_selector = "spec.serviceAccountName=" + desired.ksa;
    // From the apiserver's watch cache: a consistent list would wait for the
    // cache to catch up with etcd (tens of ms each), and an informational
    // count does not need it.
    o.resource_version = "0";
    out.missed_pods =
        pods_missing_injection(io_->list_all(res::pods(), b.ns, o), config_.agent_container_name,
                               b.kubernetes);
  }

  StatusPlan sp = plan_live_status(current, b, plan, out, now, plan_config_);
  apply_status(sp, current);
  return sp.result;
}

kube::Result Reconciler::refuse(const BindingView& b, const tenancy::Verdict& verdict) {
  const std::string now = kube::format_rfc3339(clock_->now());
  // Unwound exactly as on delete: what this binding set up while it was
  // allowed goes; it comes back by itself when a policy allows it again.
  std::vector<Target> remaining;
  std::string cleanup_error;
  cleanup_targets(b, b.applied, nullptr, true, remaining, cleanup_error);
  try {
    release_trust(b.ns + "/" + b.name, b.role_arn);
  } catch (const NotLeader&) {
    throw;
  } catch (const std::exception& e) {
    cleanup_error = std::string("removing it from its role's trust policy: ") + e.what();
  }
  StatusPlan sp = plan_refused_status(b, verdict, remaining, cleanup_error, now, plan_config_);
  json current = b.object;
  if (sp.write) current = write_status(*sp.write);
  if (sp.newly_refused) {
    kube::process_logger().warn("binding not allowed by any AwsRoleBindingPolicy",
                                {{"binding", b.ns + "/" + b.name}, {"message", verdict.message}});
  }
  for (const auto& e : sp.events) event(current, e);
  return sp.result;
}

kube::Result Reconciler::finalize(const BindingView& b) {
  std::optional<json> release = kube::remove_finalizer_patch(b.object, keys::kFinalizer);
  if (!release) return kube::Result::ok();
  try {
    for (const auto& t : b.applied) cleanup_target(b, t, nullptr, true);
    // Its subject leaves the role's trust policy before the object goes.
    release_trust(b.ns + "/" + b.name, b.role_arn);
  } catch (const NotLeader&) {
    throw;
  } catch (const std::exception& e) {
    StatusPlan sp = plan_cleanup_stuck(b, e.what(), kube::format_rfc3339(clock_->now()));
    json current = b.object;
    if (sp.write) {
      try {
        current = write_status(*sp.write);
      } catch (const kube::ApiError&) {
        // The next attempt writes it again.
      }
    }
    for (const auto& ev : sp.events) event(current, ev);
    return sp.result;
  }
  check_leader();
  try {
    io_->patch(res::aws_role_bindings(), b.ns, b.name, kube::PatchType::Json, *release);
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) return kube::Result::ok();
    if (e.is_invalid()) return kube::Result::requeue();  // the list moved: read it again
    throw;
  }
  grants_.forget(b.ns + "/" + b.name);
  kube::process_logger().info("cleaned up and released binding",
                              {{"binding", b.ns + "/" + b.name}});
  return kube::Result::ok();
}

}  // namespace gtoken
