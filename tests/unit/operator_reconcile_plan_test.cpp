// The reconciler's pure decisions (operator/reconcile_plan.hpp, the typed
// view in operator/binding_view.hpp): observations in, the plan out.
#include <doctest/doctest.h>

#include "contract/gtoken.hpp"
#include "operator/binding_view.hpp"
#include "operator/reconcile_plan.hpp"

using nlohmann::json;
using namespace gtoken;

namespace {

const char* kGsa = "uploader@my-project.iam.gserviceaccount.com";
const char* kRole = "arn:aws:iam::123456789012:role/uploader";
const PlanConfig kConfig{"my-project", contract::kDefaultAudience, std::chrono::seconds(300)};

json binding_json(const std::string& name = "b",
                  const std::string& created = "2026-01-01T00:00:00Z") {
  return {{"metadata",
           {{"name", name},
            {"namespace", "jobs"},
            {"uid", "u-" + name},
            {"generation", 2},
            {"resourceVersion", "10"},
            {"creationTimestamp", created},
            {"finalizers", {contract::kFinalizer}}}},
          {"spec",
           {{"serviceAccountName", "ksa"}, {"gcpServiceAccount", kGsa}, {"awsRoleArn", kRole}}}};
}

Target target(const std::string& role = kRole, const std::string& gsa = kGsa) {
  return Target{"ksa", gsa, role, "my-project", false, {}};
}

json sa(const json& annotations, const std::string& rv = "5") {
  return {{"metadata",
           {{"name", "ksa"},
            {"namespace", "jobs"},
            {"uid", "sa-1"},
            {"resourceVersion", rv},
            {"annotations", annotations}}}};
}

json ours(const std::string& binding = "b") {
  return {{contract::kGcpServiceAccountAnnotation, kGsa},
          {contract::kRoleArnAnnotation, kRole},
          {contract::kBindingAnnotation, binding},
          {contract::kAudienceAnnotation, contract::kDefaultAudience}};
}

std::vector<kube::ObjectPtr> cache(std::initializer_list<json> objects) {
  std::vector<kube::ObjectPtr> out;
  for (const auto& o : objects) out.push_back(std::make_shared<const json>(o));
  return out;
}

}  // namespace

TEST_CASE("view_binding: names, finalizer, audience, and only valid recorded targets") {
  json b = binding_json();
  b["status"] = {
      {"appliedTargets",
       {target().to_json(),
        {{"serviceAccountName", "../x"}, {"gcpServiceAccount", kGsa}, {"awsRoleArn", kRole}}}},
      {"podsMissingInjection", 3}};
  BindingView v = view_binding(b, "aud");
  CHECK(v.ns == "jobs");
  CHECK(v.name == "b");
  CHECK(v.generation == 2);
  CHECK(v.has_finalizer);
  CHECK_FALSE(v.deleting);
  CHECK(v.ksa == "ksa");
  CHECK(v.audience == "aud");
  REQUIRE(v.applied.size() == 1);
  CHECK(v.applied[0].same_as(target()));
  REQUIRE(v.dropped.size() == 1);
  CHECK(v.dropped[0].ksa == "../x");
  CHECK(v.pods_missing_injection == 3);
  CHECK(v.conditions == json::array());
  b["spec"]["audience"] = "mine";
  b["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z";
  b["metadata"].erase("finalizers");
  v = view_binding(b, "aud");
  CHECK(v.audience == "mine");
  CHECK(v.deleting);
  CHECK_FALSE(v.has_finalizer);
}

TEST_CASE("plan_live: a new binding records its target before anything is acted on") {
  BindingView v = view_binding(binding_json(), kConfig.default_audience);
  LivePlan p = plan_live(v, nullptr, nullptr, kConfig);
  CHECK_FALSE(p.conflict);
  CHECK(p.owner == "b");
  REQUIRE(p.record.has_value());
  CHECK((*p.record)["metadata"]["resourceVersion"] == "10");
  CHECK((*p.record)["status"]["appliedTargets"] == json::array({target().to_json()}));
  REQUIRE(p.applied.size() == 1);

  SUBCASE("already recorded: nothing to record") {
    json b = binding_json();
    b["status"] = {{"appliedTargets", {target().to_json()}}};
    LivePlan again =
        plan_live(view_binding(b, kConfig.default_audience), sa(ours()), nullptr, kConfig);
    CHECK_FALSE(again.record.has_value());
    CHECK(again.applied.size() == 1);
  }
  SUBCASE("a spec change appends the new target after the old one") {
    json b = binding_json();
    b["status"] = {{"appliedTargets", {target("arn:aws:iam::123456789012:role/old").to_json()}}};
    LivePlan changed =
        plan_live(view_binding(b, kConfig.default_audience), sa(ours()), nullptr, kConfig);
    REQUIRE(changed.record.has_value());
    REQUIRE(changed.applied.size() == 2);
    CHECK(changed.applied[0].role_arn == "arn:aws:iam::123456789012:role/old");
    CHECK(changed.applied[1].role_arn == kRole);
  }
}

TEST_CASE("plan_live: a hand-annotated ServiceAccount is taken over or is a Conflict") {
  BindingView v = view_binding(binding_json(), kConfig.default_audience);
  SUBCASE("the same values: adopted, and recorded as preexisting") {
    LivePlan p = plan_live(v,
                           sa({{contract::kGcpServiceAccountAnnotation, kGsa},
                               {contract::kAudienceAnnotation, contract::kDefaultAudience},
                               {"team", "data"}}),
                           nullptr, kConfig);
    CHECK_FALSE(p.conflict);
    CHECK(p.desired.preexisting ==
          std::vector<std::string>{contract::kAudienceAnnotation,
                                   contract::kGcpServiceAccountAnnotation});
    REQUIRE(p.record.has_value());
    CHECK((*p.record)["status"]["appliedTargets"][0]["preexistingAnnotations"].size() == 2);
  }
  SUBCASE("another role set by hand: Conflict, nothing recorded") {
    LivePlan p = plan_live(v, sa({{contract::kRoleArnAnnotation, "arn:aws:iam::1:role/theirs"}}),
                           nullptr, kConfig);
    CHECK(p.conflict);
    CHECK(p.foreign == std::string(contract::kRoleArnAnnotation) + "=arn:aws:iam::1:role/theirs");
    CHECK_FALSE(p.record.has_value());
  }
  SUBCASE("created by this binding, record removed by hand: still ours, no foreign check") {
    LivePlan p = plan_live(v,
                           sa({{contract::kCreatedByAnnotation, "b"},
                               {contract::kRoleArnAnnotation, "arn:aws:iam::1:role/old"}}),
                           nullptr, kConfig);
    CHECK_FALSE(p.conflict);
    CHECK(p.desired.preexisting.empty());
  }
  SUBCASE("owned by another binding: Conflict naming it") {
    LivePlan p = plan_live(v, sa(ours("first")), binding_json("first"), kConfig);
    CHECK(p.conflict);
    CHECK(p.owner == "first");
    CHECK(p.foreign.empty());
    CHECK_FALSE(p.record.has_value());
  }
}

TEST_CASE("ownership: the recorded owner while it claims the ServiceAccount, else the oldest") {
  json self = binding_json("b", "2026-01-03T00:00:00Z");
  json older = binding_json("a", "2026-01-01T00:00:00Z");
  json deleting = binding_json("c", "2025-01-01T00:00:00Z");
  deleting["metadata"]["deletionTimestamp"] = "2026-01-04T00:00:00Z";
  json refused = binding_json("d", "2025-06-01T00:00:00Z");
  refused["status"] = {
      {"conditions",
       {{{"type", "Ready"}, {"status", "False"}, {"reason", contract::kReasonNotAllowed}}}}};
  auto claiming = claimants(self, "ksa", cache({self, older, deleting, refused}));
  REQUIRE(claiming.size() == 2);  // self and a: deleting and refused bindings claim nothing
  CHECK(ksa_owner(self, "ksa", claiming, "", nullptr)["metadata"]["name"] == "a");
  CHECK(ksa_owner(self, "ksa", claiming, "b", nullptr)["metadata"]["name"] == "b");
  CHECK(ksa_owner(self, "ksa", claimants(self, "other", cache({older})), "", nullptr).is_null());

  SUBCASE("a recorded owner the cache does not know yet is read first") {
    CHECK(owner_to_read(self, claiming, "new") == "new");
    CHECK(owner_to_read(self, claiming, "a") == "");
    CHECK(owner_to_read(self, claiming, "b") == "");
    CHECK(owner_to_read(self, claiming, "") == "");
    json fresh = binding_json("new", "2026-01-05T00:00:00Z");
    CHECK(ksa_owner(self, "ksa", claiming, "new", fresh)["metadata"]["name"] == "new");
    // Gone (404) or naming another ServiceAccount: the oldest claimant.
    CHECK(ksa_owner(self, "ksa", claiming, "new", nullptr)["metadata"]["name"] == "a");
    fresh["spec"]["serviceAccountName"] = "elsewhere";
    CHECK(ksa_owner(self, "ksa", claiming, "new", fresh)["metadata"]["name"] == "a");
  }
  SUBCASE("an annotation no binding could have is ignored") {
    std::string invalid;
    CHECK(recorded_owner(sa({{contract::kBindingAnnotation, "Not/A Name"}}), &invalid) == "");
    CHECK(invalid == "Not/A Name");
    CHECK(recorded_owner(sa(ours("a")), &invalid) == "a");
    CHECK(recorded_owner(nullptr, nullptr) == "");
  }
}

TEST_CASE("the ServiceAccount: create with everything, apply only what differs") {
  json b = binding_json();
  b["spec"]["region"] = "eu-west-1";
  BindingView v = view_binding(b, kConfig.default_audience);
  json created = service_account_to_create(v, "ksa", kConfig);
  CHECK(created["metadata"]["labels"][contract::kManagedByLabel] == "gtoken");
  CHECK(created["metadata"]["annotations"][contract::kCreatedByAnnotation] == "b");
  CHECK(created["metadata"]["annotations"][contract::kRegionAnnotation] == "eu-west-1");

  SaApply same = plan_service_account_apply(v, Target{"ksa", "g", "r", "p", false, {}}, created, kConfig);
  CHECK(same.created_by_binding);
  CHECK(same.apply.is_null());

  SaApply differs = plan_service_account_apply(v, Target{"ksa", "g", "r", "p", false, {}}, sa(ours(), "42"), kConfig);
  CHECK_FALSE(differs.created_by_binding);
  REQUIRE(differs.apply.is_object());
  CHECK(differs.apply["metadata"]["resourceVersion"] == "42");
  CHECK(differs.apply["metadata"]["annotations"][contract::kRegionAnnotation] == "eu-west-1");
  CHECK_FALSE(differs.apply["metadata"]["annotations"].contains(contract::kCreatedByAnnotation));

  SUBCASE("an optional annotation the spec dropped is removed with a test of its value") {
    json want = wanted_annotations("b", binding_json()["spec"], kConfig.default_audience);
    json left = ours();
    left[contract::kContainersAnnotation] = "app";
    const auto keys = owned_optional_keys(false, {});
    auto patch = stale_optional_annotations(want, sa(left), keys);
    REQUIRE(patch.has_value());
    CHECK(*patch == json::array({{{"op", "test"},
                                  {"path", "/metadata/annotations/gtoken.io~1containers"},
                                  {"value", "app"}},
                                 {{"op", "remove"},
                                  {"path", "/metadata/annotations/gtoken.io~1containers"}}}));
    CHECK_FALSE(stale_optional_annotations(want, sa(ours()), keys).has_value());
    // One found there when gtoken came stays.
    CHECK_FALSE(stale_optional_annotations(want, sa(left),
                                           owned_optional_keys(false, {contract::kContainersAnnotation}))
                    .has_value());
  }
}

TEST_CASE("optional keys: the token expiration is the Kubernetes source's only") {
  const std::string exp = contract::kEksTokenExpirationAnnotation;
  auto has = [](const std::vector<std::string>& keys, const std::string& k) {
    return std::find(keys.begin(), keys.end(), k) != keys.end();
  };
  CHECK_FALSE(has(owned_optional_keys(false, {}), exp));
  CHECK(has(owned_optional_keys(true, {}), exp));
  CHECK(has(owned_optional_keys(true, {}), contract::kRegionAnnotation));
  CHECK_FALSE(has(owned_optional_keys(true, {exp}), exp));

  // A Google binding on a ServiceAccount that also carries the EKS
  // expiration (someone else's key) leaves it alone.
  json want = wanted_annotations("b", binding_json()["spec"], kConfig.default_audience);
  json have = ours();
  have[exp] = "3600";
  CHECK(annotations_match(have, want, owned_optional_keys(false, {})));
  CHECK_FALSE(stale_optional_annotations(want, sa(have), owned_optional_keys(false, {})).has_value());
}

TEST_CASE("plan_sa_cleanup: delete what gtoken created, strip what it annotated, leave the rest") {
  SUBCASE("created by the binding: deleted with uid and resourceVersion preconditions") {
    json a = ours();
    a[contract::kCreatedByAnnotation] = "b";
    SaCleanup c = plan_sa_cleanup(sa(a, "9"), "b", target(), {});
    CHECK(c.ours);
    CHECK(c.kind == SaCleanup::Kind::Delete);
    CHECK(c.uid == "sa-1");
    CHECK(c.resource_version == "9");
  }
  SUBCASE(
      "annotated: each of gtoken's values tested and removed; preexisting and changed ones kept") {
    json a = ours();
    a[contract::kRoleArnAnnotation] = "arn:aws:iam::1:role/edited-by-hand";
    a["team"] = "data";
    Target t = target();
    t.preexisting = {contract::kGcpServiceAccountAnnotation};
    SaCleanup c = plan_sa_cleanup(sa(a), "b", t, {});
    REQUIRE(c.kind == SaCleanup::Kind::Patch);
    CHECK(c.patch[0] == json{{"op", "test"},
                             {"path", "/metadata/annotations/gtoken.io~1binding"},
                             {"value", "b"}});
    std::vector<std::string> removed;
    for (const auto& op : c.patch) {
      if (op["op"] == "remove") removed.push_back(op["path"]);
    }
    CHECK(removed == std::vector<std::string>{"/metadata/annotations/gtoken.io~1binding",
                                              "/metadata/annotations/gtoken.io~1audience"});
  }
  SUBCASE("another binding's: not touched") {
    SaCleanup c = plan_sa_cleanup(sa(ours("other")), "b", target(), {});
    CHECK_FALSE(c.ours);
    CHECK(c.kind == SaCleanup::Kind::None);
  }
  SUBCASE("created by it, record removed by hand, and another binding names it: not ours") {
    json a = {{contract::kCreatedByAnnotation, "b"}};
    json other = binding_json("other");
    CHECK(plan_sa_cleanup(sa(a), "b", target(), cache({other})).kind == SaCleanup::Kind::None);
    CHECK(plan_sa_cleanup(sa(a), "b", target(), {}).kind == SaCleanup::Kind::Delete);
  }
  SUBCASE("nothing of gtoken's left: no write") {
    SaCleanup c = plan_sa_cleanup(sa({{contract::kBindingAnnotation, "b"}}), "b", target(), {});
    CHECK(c.kind == SaCleanup::Kind::Patch);  // the binding annotation itself
    c = plan_sa_cleanup(sa({{"team", "data"}, {contract::kCreatedByAnnotation, "x"}}), "b",
                        target(), {});
    CHECK(c.kind == SaCleanup::Kind::None);
  }
}

TEST_CASE("which parts of an old target cleanup leaves alone") {
  Target old = target("arn:aws:iam::123456789012:role/old");
  Target now = target();
  CHECK(cleanup_skips_service_account(old, &now, true));      // same ServiceAccount goes on
  CHECK(cleanup_skips_service_account(old, nullptr, false));  // in conflict
  CHECK_FALSE(cleanup_skips_service_account(old, nullptr, true));
  CHECK(member_still_wanted(old, &now));
  Target moved = target(kRole, "other@my-project.iam.gserviceaccount.com");
  CHECK_FALSE(member_still_wanted(old, &moved));
  CHECK_FALSE(member_still_wanted(old, nullptr));
  // The ServiceAccount's owner is another binding on the same GSA: the member stays.
  CHECK(member_kept_by_owner(binding_json("other"), "b", old, "my-project"));
  CHECK_FALSE(member_kept_by_owner(binding_json("b"), "b", old, "my-project"));
  CHECK_FALSE(member_kept_by_owner(nullptr, "b", old, "my-project"));
  CHECK_FALSE(member_kept_by_owner(binding_json("other"), "b", old, "another-project"));
}

TEST_CASE("Google's answers as Workload Identity results") {
  CHECK(wi_from_gsa({{"uniqueId", "1"}}, kGsa).reason.empty());
  WiResult disabled = wi_from_gsa({{"uniqueId", "1"}, {"disabled", true}}, kGsa);
  CHECK(disabled.reason == "GcpServiceAccountDisabled");
  CHECK(disabled.unique_id == "1");
  WiResult bound = wi_bound(wi_from_gsa({{"uniqueId", "1"}}, kGsa), "m", kGsa);
  CHECK(bound.ok);
  CHECK(bound.reason == "MemberBound");
  CHECK(bound.unique_id == "1");
  auto reason = [](int http, const std::string& status, bool missing) {
    return wi_google_error(http, status, "w", kGsa, missing).reason;
  };
  CHECK(reason(401, "UNAUTHENTICATED", false) == "GoogleAuthFailed");
  CHECK(reason(404, "NOT_FOUND", false) == "GcpServiceAccountNotFound");
  CHECK(reason(403, "PERMISSION_DENIED", true) == "GcpServiceAccountNotFound");
  CHECK(reason(403, "PERMISSION_DENIED", false) == "PermissionDenied");
  CHECK(reason(409, "", false) == "ConcurrentPolicyChange");
  CHECK(reason(400, "ABORTED", false) == "ConcurrentPolicyChange");
  CHECK(reason(503, "UNAVAILABLE", false) == "GoogleApiError");
  CHECK(wi_unreachable("refused").reason == "GoogleApiUnreachable");
  // An error after the GSA was read keeps its uniqueId (the trust policy).
  CHECK(wi_google_error(503, "", "w", kGsa, false, bound).unique_id == "1");
  CHECK_FALSE(wi_google_error(503, "", "w", kGsa, false, bound).ok);
}

TEST_CASE("plan_live_status: conditions, status fields, Events and the result") {
  BindingView v = view_binding(binding_json(), kConfig.default_audience);
  LivePlan p = plan_live(v, nullptr, nullptr, kConfig);
  json current = *p.record;
  LiveOutcome out;
  out.wi = wi_bound(wi_from_gsa({{"uniqueId", "111"}}, kGsa), "m", kGsa);
  out.remaining = p.applied;

  SUBCASE("Ready: the trust policy, the member, no Event the first time, requeue after resync") {
    StatusPlan sp = plan_live_status(current, v, p, out, "T", kConfig);
    REQUIRE(sp.write.has_value());
    const json& st = (*sp.write)["status"];
    CHECK(st["observedGeneration"] == 2);
    CHECK(st["gcpServiceAccountUniqueId"] == "111");
    CHECK(st["awsTrustPolicy"].get<std::string>().find("111") != std::string::npos);
    CHECK(st["workloadIdentityMember"] == "serviceAccount:my-project.svc.id.goog[jobs/ksa]");
    CHECK(st["conditions"].size() == 3);
    // A binding's first Ready=True is in its status: no Event.
    CHECK(sp.events.empty());
    CHECK(sp.result.kind() == kube::Result::Kind::RequeueAfter);
    CHECK(sp.result.after() == std::chrono::seconds(300));

    SUBCASE("the same again: no write, no Event") {
      json written = *sp.write;
      BindingView again = view_binding(written, kConfig.default_audience);
      LivePlan p2 = plan_live(again, sa(ours()), nullptr, kConfig);
      StatusPlan sp2 = plan_live_status(written, again, p2, out, "T2", kConfig);
      CHECK_FALSE(sp2.write.has_value());
      CHECK(sp2.events.empty());
    }
  }
  SUBCASE(
      "Google failed: Ready carries its reason, the trust policy is kept only with a uniqueId") {
    out.wi = wi_google_error(503, "", "down", kGsa, false);
    StatusPlan sp = plan_live_status(current, v, p, out, "T", kConfig);
    REQUIRE(sp.write.has_value());
    CHECK_FALSE((*sp.write)["status"].contains("awsTrustPolicy"));
    CHECK(sp.result.is_error());
    CHECK(sp.result.message().rfind("GoogleApiError: ", 0) == 0);
    REQUIRE(sp.events.size() == 1);
    CHECK(sp.events[0].type == "Warning");
  }
  SUBCASE("Ready after a failure: one Normal Event for the transition") {
    LiveOutcome failed = out;
    failed.wi = wi_google_error(503, "", "down", kGsa, false);
    json written = *plan_live_status(current, v, p, failed, "T", kConfig).write;
    BindingView again = view_binding(written, kConfig.default_audience);
    StatusPlan sp = plan_live_status(written, again, p, out, "T2", kConfig);
    REQUIRE(sp.events.size() == 1);
    CHECK(sp.events[0].type == "Normal");
    CHECK(sp.events[0].reason == "Ready");
  }
  SUBCASE("an old target could not be undone: CleanupFailed, kept for the retry") {
    out.cleanup_error = "undoing failed";
    out.remaining.push_back(target("arn:aws:iam::123456789012:role/old"));
    StatusPlan sp = plan_live_status(current, v, p, out, "T", kConfig);
    CHECK((*sp.write)["status"]["appliedTargets"].size() == 2);
    CHECK(sp.events[0].reason == "CleanupFailed");
    CHECK(sp.result.message() == "undoing failed");
  }
  SUBCASE("pods missing injection: a Warning Event when the count changes, ten names at most") {
    for (int i = 0; i < 12; ++i) out.missed_pods.push_back("p" + std::to_string(i));
    StatusPlan sp = plan_live_status(current, v, p, out, "T", kConfig);
    REQUIRE(sp.events.size() == 1);  // the first Ready=True has none
    CHECK(sp.events[0].reason == "PodsMissingInjection");
    CHECK(sp.events[0].note.find("p9") != std::string::npos);
    CHECK(sp.events[0].note.find("p10") == std::string::npos);
    json written = *sp.write;
    CHECK(plan_live_status(written, view_binding(written, kConfig.default_audience), p, out, "T",
                           kConfig)
              .events.empty());
  }
  SUBCASE("Conflict: the fields that describe a setup go, and the result is a resync") {
    LivePlan conflict = plan_live(v, sa(ours("first")), binding_json("first"), kConfig);
    current["status"]["workloadIdentityMember"] = "stale";
    current["status"]["awsTrustPolicy"] = "stale";
    StatusPlan sp = plan_live_status(current, v, conflict, LiveOutcome{}, "T", kConfig);
    const json& st = (*sp.write)["status"];
    CHECK_FALSE(st.contains("workloadIdentityMember"));
    CHECK_FALSE(st.contains("awsTrustPolicy"));
    CHECK(st["conditions"][2]["reason"] == contract::kReasonConflict);
    CHECK(st["conditions"][2]["message"].get<std::string>().find("AwsRoleBinding first") !=
          std::string::npos);
    CHECK(sp.result.kind() == kube::Result::Kind::RequeueAfter);
  }
}

TEST_CASE("plan_refused_status and plan_cleanup_stuck") {
  json b = binding_json();
  b["status"] = {{"workloadIdentityMember", "m"}, {"appliedTargets", {target().to_json()}}};
  BindingView v = view_binding(b, kConfig.default_audience);
  tenancy::Verdict verdict;
  verdict.message = "no policy allows it";
  StatusPlan sp = plan_refused_status(v, verdict, {}, "", "T", kConfig);
  REQUIRE(sp.write.has_value());
  CHECK((*sp.write)["status"]["appliedTargets"] == json::array());
  CHECK_FALSE((*sp.write)["status"].contains("workloadIdentityMember"));
  CHECK(sp.newly_refused);
  REQUIRE(sp.events.size() == 1);
  CHECK(sp.events[0].reason == contract::kReasonNotAllowed);
  CHECK(sp.result.kind() == kube::Result::Kind::RequeueAfter);
  BindingView refused = view_binding(*sp.write, kConfig.default_audience);
  StatusPlan again = plan_refused_status(refused, verdict, {}, "", "T2", kConfig);
  CHECK_FALSE(again.write.has_value());
  CHECK_FALSE(again.newly_refused);
  CHECK(again.events.empty());
  CHECK(plan_refused_status(v, verdict, v.applied, "stuck", "T", kConfig).result.is_error());

  StatusPlan stuck = plan_cleanup_stuck(v, "Google down", "T");
  REQUIRE(stuck.write.has_value());
  CHECK(stuck.result.is_error());
  CHECK(stuck.result.message().find(contract::kFinalizer) != std::string::npos);
  REQUIRE(stuck.events.size() == 1);
  CHECK(stuck.events[0].reason == "CleanupFailed");
  StatusPlan still =
      plan_cleanup_stuck(view_binding(*stuck.write, kConfig.default_audience), "Google down", "T2");
  CHECK_FALSE(still.write.has_value());
  CHECK(still.events.empty());
}

TEST_CASE("event_object and pods_missing_injection") {
  json ev = event_object(binding_json(), {"Warning", "R", std::string(2000, 'x')}, "pod-1", "ET");
  CHECK(ev["regarding"] == json{{"apiVersion", "gtoken.io/v1alpha1"},
                                {"kind", "AwsRoleBinding"},
                                {"name", "b"},
                                {"namespace", "jobs"},
                                {"uid", "u-b"}});
  CHECK(ev["note"].get<std::string>().size() == 1024);
  CHECK(ev["reportingInstance"] == "pod-1");
  CHECK(ev["metadata"]["generateName"] == "b-");

  json pods = {
      {"items",
       {{{"metadata", {{"name", "plain"}}}, {"spec", {{"containers", {{{"name", "app"}}}}}}},
        {{"metadata", {{"name", "native"}}},
         {"spec", {{"initContainers", {{{"name", "gtoken"}}}}, {"containers", json::array()}}}},
        {{"metadata", {{"name", "classic"}}},
         {"spec", {{"initContainers", {{{"name", "gtoken-init"}}}}}}},
        {{"metadata", {{"name", "done"}}},
         {"spec", json::object()},
         {"status", {{"phase", "Succeeded"}}}},
        {{"metadata", {{"name", "leaving"}, {"deletionTimestamp", "x"}}}, {"spec", json::object()}},
        {{"metadata", {{"name", "optout"}, {"annotations", {{"gtoken.io/inject", "false"}}}}},
         {"spec", json::object()}}}}};
  CHECK(pods_missing_injection(pods, "gtoken", false) == std::vector<std::string>{"plain"});
  // For a Kubernetes binding the agent containers count for nothing: only
  // the running pods without the projected token volume.
  CHECK(pods_missing_injection(pods, "gtoken", true) ==
        std::vector<std::string>{"plain", "native", "classic"});
}
