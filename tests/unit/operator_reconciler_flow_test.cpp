// The Reconciler (the executor) over scripted IO: every reconcile path, the
// calls it makes and their order, without an apiserver or Google. The
// decisions themselves are tested in operator_reconcile_plan_test.cpp.
#include <doctest/doctest.h>

#include <algorithm>

#include "kube/log.hpp"
#include "aws/iam.hpp"
#include "operator/policy.hpp"
#include "operator/reconciler.hpp"
#include "operator_reconciler_fake.hpp"

using nlohmann::json;
using Calls = std::vector<std::string>;

namespace doctest {
template <>
struct StringMaker<Calls> {
  static String convert(const Calls& calls) {
    std::string out;
    for (const auto& c : calls) out += (out.empty() ? "[" : ", ") + c;
    return (out + "]").c_str();
  }
};
}  // namespace doctest

namespace {

const char* kGsa = "uploader@my-project.iam.gserviceaccount.com";
const char* kGsa2 = "other@my-project.iam.gserviceaccount.com";
const char* kRole = "arn:aws:iam::123456789012:role/uploader";
const char* kRole2 = "arn:aws:iam::123456789012:role/reader";
const char* kMember = "serviceAccount:my-project.svc.id.goog[jobs/orchestrator]";

json binding(const std::string& name, const std::string& ksa = "orchestrator",
             const std::string& gsa = kGsa, const std::string& role = kRole,
             const std::string& created = "2026-01-01T00:00:00Z") {
  return {
      {"apiVersion", "gtoken.io/v1alpha1"},
      {"kind", "AwsRoleBinding"},
      {"metadata",
       {{"name", name},
        {"namespace", "jobs"},
        {"uid", "uid-" + name},
        {"generation", 1},
        {"creationTimestamp", created}}},
      {"spec", {{"serviceAccountName", ksa}, {"gcpServiceAccount", gsa}, {"awsRoleArn", role}}}};
}

json service_account(const std::string& name, const json& annotations) {
  return {
      {"apiVersion", "v1"},
      {"kind", "ServiceAccount"},
      {"metadata",
       {{"name", name}, {"namespace", "jobs"}, {"uid", "sa-uid"}, {"annotations", annotations}}}};
}

struct World {
  std::shared_ptr<fake::FakeKube> kube = std::make_shared<fake::FakeKube>();
  fake::FakeGoogle google;
  // The informers' caches, as the operator keeps them (bindings slimmed).
  std::shared_ptr<kube::Store> bindings = std::make_shared<kube::Store>(gtoken::slim_binding);
  std::shared_ptr<kube::Store> service_accounts = std::make_shared<kube::Store>();
  std::shared_ptr<gtoken::PodIndex> pods = std::make_shared<gtoken::PodIndex>();
  std::shared_ptr<kube::Store> policies = std::make_shared<kube::Store>();
  std::shared_ptr<kube::Store> namespaces = std::make_shared<kube::Store>();
  std::shared_ptr<kube::FakeClock> clock = std::make_shared<kube::FakeClock>();
  bool leader = true;
  std::unique_ptr<gtoken::Reconciler> rec;

  // `pod_cache` false: the reconciler lists pods instead of asking the index.
  explicit World(bool allowed = true, bool pod_cache = true, const std::string& oidc_issuer = "",
                 gtoken::AwsIo aws = {}, bool apply_trust = false,
                 bool policy_allows_apply = true) {
    kube::process_logger().set_level(kube::LogLevel::error);  // the reconciler's info lines
    if (allowed) {
      policies->replace({{{"metadata", {{"name", "jobs"}}},
                          {"spec",
                           {{"namespaces", {{"names", {"jobs"}}}},
                            {"gcpServiceAccounts", {"*@my-project.iam.gserviceaccount.com"}},
                            {"awsRoles", {"123456789012"}},
                            {"tokenSources", {"Google", "Kubernetes"}},
                            {"trustPolicy", apply_trust && policy_allows_apply ? "Apply" : "Verify"}}}}});
    } else {
      policies->replace({});
    }
    namespaces->replace({{{"metadata", {{"name", "jobs"}, {"labels", json::object()}}}}});
    bindings->replace({});
    google.gsas[kGsa] = {{"email", kGsa}, {"uniqueId", "111"}, {"disabled", false}};
    google.gsas[kGsa2] = {{"email", kGsa2}, {"uniqueId", "222"}, {"disabled", false}};
    auto gate = std::make_shared<gtoken::TenancyGate>(
        gtoken::tenancy::Settings{"my-project", "op@my-project.iam.gserviceaccount.com",
                                  gtoken::contract::kDefaultAudience},
        policies, namespaces, bindings);
    gtoken::ReconcilerConfig rc;
    rc.project = "my-project";
    rc.resync = std::chrono::seconds(300);
    rc.oidc_issuer = oidc_issuer;
    rc.verify_trust = aws.configured();
    rc.apply_trust = apply_trust;
    gtoken::ReconcilerDeps deps;
    deps.aws = std::move(aws);
    deps.bindings = bindings;
    deps.service_accounts = service_accounts;
    deps.pods = pod_cache ? pods : nullptr;
    deps.gate = gate;
    deps.is_leader = [this] { return leader; };
    deps.clock = clock;
    deps.random = kube::fixed_random(0.5);
    rec = std::make_unique<gtoken::Reconciler>(kube, google.io(), rc, std::move(deps));
  }

  // The informers caught up with the apiserver.
  void sync() {
    service_accounts->replace(kube->all("serviceaccounts"));
    bindings->replace(kube->all("awsrolebindings"));
    for (const json& p : kube->all("pods")) pods->update(gtoken::slim_pod(p, "gtoken"));
  }
  void put_sa(json sa) {
    kube->put("serviceaccounts", std::move(sa));
    sync();
  }

  void add(json b) {
    kube->put("awsrolebindings", b);
    sync();
  }
  // One reconcile, with the informer's cache caught up afterwards and the
  // calls of that reconcile alone in kube->calls / google.calls.
  kube::Result run(const std::string& name) {
    kube->clear_calls();
    google.clear_calls();
    kube::Result r = rec->reconcile("jobs/" + name);
    sync();
    return r;
  }
  json& b(const std::string& name) { return *kube->find("awsrolebindings", name); }
  json* sa(const std::string& name = "orchestrator") { return kube->find("serviceaccounts", name); }
  json condition(const std::string& name, const std::string& type) {
    for (const auto& c : b(name)["status"]["conditions"]) {
      if (c["type"] == type) return c;
    }
    return nullptr;
  }
  json ready(const std::string& name) { return condition(name, "Ready"); }
  json trust(const std::string& name) { return condition(name, "TrustPolicyVerified"); }
  bool has_member(const std::string& gsa, const std::string& member = kMember) {
    return gtoken::has_member(google.policies[gsa], gtoken::kWorkloadIdentityUserRole, member);
  }
  void change_spec(const std::string& name, const std::string& key, const std::string& value) {
    b(name)["spec"][key] = value;
    b(name)["metadata"]["generation"] = b(name)["metadata"]["generation"].get<int>() + 1;
    bindings->apply(b(name));
  }
};

void check_requeue_after_resync(const kube::Result& r) {
  CHECK(r.kind() == kube::Result::Kind::RequeueAfter);
  CHECK(r.after() == std::chrono::seconds(300));
}

}  // namespace

TEST_CASE("a new binding: finalizer, record, create the ServiceAccount, grant, status") {
  World w;
  w.add(binding("b"));
  check_requeue_after_resync(w.run("b"));
  // The binding and the ServiceAccount (absent) come from the caches; the
  // first Ready=True is in the status, and no Event.
  CHECK(w.kube->calls == Calls{"patch-merge awsrolebindings/b", "status awsrolebindings/b",
                               "create serviceaccounts/orchestrator", "status awsrolebindings/b"});
  CHECK(w.google.calls == Calls{"get " + std::string(kGsa) + " under -",
                                "getIamPolicy " + std::string(kGsa),
                                "setIamPolicy " + std::string(kGsa)});
  // The finalizer patch was guarded by the resourceVersion read.
  CHECK(w.kube->patches[0]["metadata"]["finalizers"] == json{"gtoken.io/cleanup"});
  CHECK(w.kube->patches[0]["metadata"].contains("resourceVersion"));
  // Record, then act: the first status write carries the target and nothing else.
  REQUIRE(w.kube->statuses.size() == 2);
  CHECK(w.kube->statuses[0] == json{{"appliedTargets",
                                     {{{"serviceAccountName", "orchestrator"},
                                       {"gcpServiceAccount", kGsa},
                                       {"awsRoleArn", kRole},
                                       {"project", "my-project"},
                                       {"createdServiceAccount", false}}}}});
  REQUIRE(w.sa());
  CHECK((*w.sa())["metadata"]["annotations"] ==
        json{{"iam.gke.io/gcp-service-account", kGsa},
             {"amazonaws.com/role-arn", kRole},
             {"gtoken.io/binding", "b"},
             {"gtoken.io/audience", gtoken::contract::kDefaultAudience},
             {"gtoken.io/created-by", "b"}});
  CHECK((*w.sa())["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gtoken");
  CHECK(w.has_member(kGsa));
  const json& st = w.b("b")["status"];
  CHECK(st["appliedTargets"][0]["createdServiceAccount"] == true);
  CHECK(st["gcpServiceAccountUniqueId"] == "111");
  CHECK(st["workloadIdentityMember"] == kMember);
  CHECK(st["podsMissingInjection"] == 0);
  CHECK(st["observedGeneration"] == 1);
  CHECK(w.ready("b")["status"] == "True");
  CHECK(w.kube->events.empty());

  SUBCASE("a resync of a Ready binding reads and writes nothing else (Google cached)") {
    // The cache keeps only part of a written status: the binding is read
    // live (a status written from the cache would lose the rest); the
    // ServiceAccount comes from its cache.
    check_requeue_after_resync(w.run("b"));
    CHECK(w.kube->calls == Calls{"get awsrolebindings/b"});
    CHECK(w.google.calls.empty());
  }
  SUBCASE(
      "after the cache TTL Google is asked again, and the member already there costs no write") {
    w.clock->advance(std::chrono::seconds(31));
    check_requeue_after_resync(w.run("b"));
    CHECK(w.google.calls ==
          Calls{"get " + std::string(kGsa) + " under -", "getIamPolicy " + std::string(kGsa)});
  }
  SUBCASE("a pod without the agent: counted, and one Warning Event") {
    w.kube->put(
        "pods",
        {{"metadata", {{"name", "p1"}, {"namespace", "jobs"}}},
         {"spec", {{"serviceAccountName", "orchestrator"}, {"containers", {{{"name", "app"}}}}}}});
    w.kube->put(
        "pods",
        {{"metadata", {{"name", "p2"}, {"namespace", "jobs"}}},
         {"spec",
          {{"serviceAccountName", "orchestrator"}, {"initContainers", {{{"name", "gtoken"}}}}}}});
    w.kube->put("pods",
                {{"metadata", {{"name", "p3"}, {"namespace", "jobs"}}},
                 {"spec", {{"serviceAccountName", "other"}, {"containers", {{{"name", "app"}}}}}}});
    w.sync();
    w.run("b");
    // Counted from the pod cache: no pod list.
    CHECK(std::count(w.kube->calls.begin(), w.kube->calls.end(), "list pods") == 0);
    CHECK(w.kube->calls.back() == "event PodsMissingInjection");
    CHECK(w.b("b")["status"]["podsMissingInjection"] == 1);
    w.run("b");
    CHECK(std::count(w.kube->calls.begin(), w.kube->calls.end(), "event PodsMissingInjection") ==
          0);
  }
}

TEST_CASE("spec changes: make before break") {
  World w;
  w.add(binding("b"));
  w.run("b");

  SUBCASE("a role change rewrites one annotation; Google and the ServiceAccount's life untouched") {
    w.change_spec("b", "awsRoleArn", kRole2);
    const std::string uid = (*w.sa())["metadata"]["uid"];
    check_requeue_after_resync(w.run("b"));
    CHECK(w.kube->calls == Calls{"get awsrolebindings/b", "status awsrolebindings/b",
                                 "apply serviceaccounts/orchestrator", "status awsrolebindings/b"});
    CHECK(w.google.calls.empty());
    CHECK(w.kube->statuses[0]["appliedTargets"].size() == 2);
    CHECK(w.b("b")["status"]["appliedTargets"].size() == 1);
    CHECK(w.b("b")["status"]["appliedTargets"][0]["awsRoleArn"] == kRole2);
    CHECK(w.b("b")["status"]["appliedTargets"][0]["createdServiceAccount"] == true);
    CHECK((*w.sa())["metadata"]["uid"] == uid);
    CHECK((*w.sa())["metadata"]["annotations"]["amazonaws.com/role-arn"] == kRole2);
    CHECK(w.has_member(kGsa));
  }
  SUBCASE("a GSA change adds the member on the new GSA before removing it from the old") {
    w.change_spec("b", "gcpServiceAccount", kGsa2);
    check_requeue_after_resync(w.run("b"));
    CHECK(w.google.calls ==
          Calls{"get " + std::string(kGsa2) + " under -", "getIamPolicy " + std::string(kGsa2),
                "setIamPolicy " + std::string(kGsa2), "setIamPolicy " + std::string(kGsa)});
    CHECK(w.has_member(kGsa2));
    CHECK_FALSE(w.has_member(kGsa));
    CHECK(w.b("b")["status"]["gcpServiceAccountUniqueId"] == "222");
  }
  SUBCASE("a ServiceAccount change: new one created, the old one (created by gtoken) deleted") {
    w.change_spec("b", "serviceAccountName", "worker");
    check_requeue_after_resync(w.run("b"));
    CHECK(w.kube->calls ==
          Calls{"get awsrolebindings/b", "status awsrolebindings/b",
                "create serviceaccounts/worker", "get serviceaccounts/orchestrator",
                "delete serviceaccounts/orchestrator", "get serviceaccounts/orchestrator",
                "status awsrolebindings/b"});  // Ready stays Ready: no Event
    CHECK(w.sa("worker"));
    CHECK_FALSE(w.sa("orchestrator"));
    CHECK(w.kube->deletes[0].precondition_uid.has_value());
    CHECK(w.has_member(kGsa, "serviceAccount:my-project.svc.id.goog[jobs/worker]"));
    CHECK_FALSE(w.has_member(kGsa));
  }
  SUBCASE("region added then dropped: the leftover optional annotation is patched away") {
    w.b("b")["spec"]["region"] = "eu-west-1";
    w.bindings->apply(w.b("b"));
    w.run("b");
    CHECK((*w.sa())["metadata"]["annotations"]["gtoken.io/region"] == "eu-west-1");
    w.b("b")["spec"].erase("region");
    w.bindings->apply(w.b("b"));
    w.run("b");
    CHECK(w.kube->calls == Calls{"get awsrolebindings/b", "apply serviceaccounts/orchestrator",
                                 "patch-json serviceaccounts/orchestrator"});
    CHECK_FALSE((*w.sa())["metadata"]["annotations"].contains("gtoken.io/region"));
  }
}

TEST_CASE("taking over a hand-annotated ServiceAccount records what was there, and leaves it") {
  World w;
  w.put_sa(service_account("orchestrator",
                           {{"iam.gke.io/gcp-service-account", kGsa}, {"team", "data"}}));
  w.add(binding("b"));
  check_requeue_after_resync(w.run("b"));
  CHECK(w.kube->calls == Calls{"patch-merge awsrolebindings/b", "status awsrolebindings/b",
                               "apply serviceaccounts/orchestrator", "status awsrolebindings/b"});
  const json& t = w.b("b")["status"]["appliedTargets"][0];
  CHECK(t["preexistingAnnotations"] == json{"iam.gke.io/gcp-service-account"});
  CHECK(t["createdServiceAccount"] == false);

  // Deleted: gtoken's annotations go, the one found there and the foreign one stay.
  // Deleting: read live (the finalizer's release is guarded by its index,
  // not by a resourceVersion).
  w.b("b")["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z";
  w.bindings->apply(w.b("b"));
  CHECK(w.run("b").kind() == kube::Result::Kind::Ok);
  CHECK(w.kube->calls == Calls{"get awsrolebindings/b", "get serviceaccounts/orchestrator",
                               "patch-json serviceaccounts/orchestrator",
                               "get serviceaccounts/orchestrator", "patch-json awsrolebindings/b"});
  REQUIRE(w.sa());
  CHECK((*w.sa())["metadata"]["annotations"] ==
        json{{"iam.gke.io/gcp-service-account", kGsa}, {"team", "data"}});
  CHECK_FALSE(w.has_member(kGsa));
  CHECK(w.b("b")["metadata"]["finalizers"] == json::array());
}

TEST_CASE("Conflict: foreign annotations and a ServiceAccount another binding owns") {
  World w;
  SUBCASE("another GSA set by hand: never overwritten, no Google call") {
    w.put_sa(service_account("orchestrator", {{"iam.gke.io/gcp-service-account", kGsa2}}));
    w.add(binding("b"));
    check_requeue_after_resync(w.run("b"));
    // A first Ready=False is a Warning Event.
    CHECK(w.kube->calls ==
          Calls{"patch-merge awsrolebindings/b", "status awsrolebindings/b", "event Conflict"});
    CHECK(w.kube->events[0]["type"] == "Warning");
    CHECK(w.kube->events[0]["regarding"]["uid"] == "uid-b");
    CHECK(w.google.calls.empty());
    CHECK(w.ready("b")["reason"] == "Conflict");
    CHECK(w.ready("b")["message"].get<std::string>().find(
              std::string("iam.gke.io/gcp-service-account=") + kGsa2) != std::string::npos);
    CHECK((*w.sa())["metadata"]["annotations"].size() == 1);
    CHECK_FALSE(w.b("b")["status"].contains("workloadIdentityMember"));
  }
  SUBCASE(
      "a second binding on the same ServiceAccount waits, then takes over when the first goes") {
    w.add(binding("first"));
    w.run("first");
    w.add(binding("second", "orchestrator", kGsa2, kRole2, "2026-01-05T00:00:00Z"));
    check_requeue_after_resync(w.run("second"));
    CHECK(w.ready("second")["reason"] == "Conflict");
    CHECK(w.b("second")["status"]["appliedTargets"] == json::array());
    CHECK(w.google.calls.empty());
    CHECK(std::find(w.kube->calls.begin(), w.kube->calls.end(),
                    "apply serviceaccounts/orchestrator") == w.kube->calls.end());

    w.b("first")["metadata"]["deletionTimestamp"] = "2026-01-06T00:00:00Z";
    w.bindings->apply(w.b("first"));
    CHECK(w.run("first").kind() == kube::Result::Kind::Ok);
    CHECK_FALSE(w.sa());
    check_requeue_after_resync(w.run("second"));
    CHECK(w.ready("second")["status"] == "True");
    CHECK((*w.sa())["metadata"]["annotations"]["gtoken.io/binding"] == "second");
    CHECK(w.has_member(kGsa2));
  }
}

TEST_CASE("NotAllowed: nothing is read or written but the status, and earlier setups are undone") {
  World w(/*allowed=*/false);
  w.add(binding("b"));
  check_requeue_after_resync(w.run("b"));
  CHECK(w.kube->calls ==
        Calls{"patch-merge awsrolebindings/b", "status awsrolebindings/b", "event NotAllowed"});
  CHECK(w.google.calls.empty());
  CHECK(w.ready("b")["reason"] == "NotAllowed");

  SUBCASE("once allowed, set up; the policy removed again, undone") {
    w.policies->replace({{{"metadata", {{"name", "jobs"}}},
                          {"spec",
                           {{"namespaces", {{"names", {"jobs"}}}},
                            {"gcpServiceAccounts", {"*@my-project.iam.gserviceaccount.com"}},
                            {"awsRoles", {"123456789012"}},
                            {"tokenSources", {"Google", "Kubernetes"}}}}}});
    w.run("b");
    CHECK(w.ready("b")["status"] == "True");
    CHECK(w.sa());
    w.policies->replace({});
    check_requeue_after_resync(w.run("b"));
    CHECK(w.kube->calls == Calls{"get awsrolebindings/b", "get serviceaccounts/orchestrator",
                                 "delete serviceaccounts/orchestrator",
                                 "get serviceaccounts/orchestrator", "status awsrolebindings/b",
                                 "event NotAllowed"});
    CHECK_FALSE(w.sa());
    CHECK_FALSE(w.has_member(kGsa));
    CHECK(w.b("b")["status"]["appliedTargets"] == json::array());
  }
}

TEST_CASE("delete: every recorded target undone, then the finalizer released") {
  World w;
  w.add(binding("b"));
  w.run("b");
  w.b("b")["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z";
  w.bindings->apply(w.b("b"));

  SUBCASE("clean") {
    CHECK(w.run("b").kind() == kube::Result::Kind::Ok);
    CHECK(w.kube->calls == Calls{"get awsrolebindings/b", "get serviceaccounts/orchestrator",
                                 "delete serviceaccounts/orchestrator",
                                 "get serviceaccounts/orchestrator",
                                 "patch-json awsrolebindings/b"});
    CHECK(w.kube->patches.back() ==
          json::array(
              {{{"op", "test"}, {"path", "/metadata/finalizers/0"}, {"value", "gtoken.io/cleanup"}},
               {{"op", "remove"}, {"path", "/metadata/finalizers/0"}}}));
    CHECK_FALSE(w.sa());
    CHECK_FALSE(w.has_member(kGsa));
  }
  SUBCASE("Google failing: CleanupFailed, one Event, the finalizer kept, retried") {
    w.clock->advance(std::chrono::seconds(31));  // the cached policy has expired
    w.google.failures.push_back({"getIamPolicy " + std::string(kGsa),
                                 gtoken::GoogleError(503, "UNAVAILABLE", "backend down")});
    kube::Result r = w.run("b");
    CHECK(r.is_error());
    CHECK(r.message().find("backend down") != std::string::npos);
    CHECK(w.ready("b")["reason"] == "CleanupFailed");
    CHECK(w.kube->calls.back() == "event CleanupFailed");
    CHECK(w.b("b")["metadata"]["finalizers"] == json{"gtoken.io/cleanup"});
    // Still failing: no second Event for the same reason.
    w.google.failures.push_back({"getIamPolicy " + std::string(kGsa),
                                 gtoken::GoogleError(503, "UNAVAILABLE", "backend down")});
    CHECK(w.run("b").is_error());
    CHECK(std::count(w.kube->calls.begin(), w.kube->calls.end(), "event CleanupFailed") == 0);
    // Google back: released.
    CHECK(w.run("b").kind() == kube::Result::Kind::Ok);
    CHECK(w.kube->calls.back() == "patch-json awsrolebindings/b");
  }
  SUBCASE("the GSA is gone (403 under projects/-, 404 under its project): counts as removed") {
    w.clock->advance(std::chrono::seconds(31));
    w.google.gsas.erase(kGsa);
    w.google.failures.push_back({"getIamPolicy " + std::string(kGsa),
                                 gtoken::GoogleError(403, "PERMISSION_DENIED", "denied")});
    CHECK(w.run("b").kind() == kube::Result::Kind::Ok);
    CHECK(w.google.calls == Calls{"getIamPolicy " + std::string(kGsa),
                                  "get " + std::string(kGsa) + " under my-project"});
  }
  SUBCASE("the finalizer list moved under us (422 from the test): read again") {
    w.kube->fail("patch-json awsrolebindings/b", fake::api_error(422, "Invalid"));
    CHECK(w.run("b").kind() == kube::Result::Kind::Requeue);
  }
}

TEST_CASE("Google errors become conditions with a reason, and a retry") {
  World w;
  w.add(binding("b"));
  auto reason_after = [&](const std::string& call, gtoken::GoogleError e) {
    w.google.failures.push_back({call, e});
    kube::Result r = w.run("b");
    CHECK(r.is_error());
    return w.ready("b").value("reason", "");
  };
  const std::string get = "get " + std::string(kGsa) + " under -";
  SUBCASE("404") {
    CHECK(reason_after(get, gtoken::GoogleError(404, "NOT_FOUND", "x")) ==
          "GcpServiceAccountNotFound");
  }
  SUBCASE("403 that is a missing GSA") {
    w.google.gsas.erase(kGsa);
    CHECK(reason_after(get, gtoken::GoogleError(403, "PERMISSION_DENIED", "x")) ==
          "GcpServiceAccountNotFound");
    CHECK(w.google.calls == Calls{get, "get " + std::string(kGsa) + " under my-project"});
  }
  SUBCASE("403 that is a missing permission") {
    w.google.failures.push_back({"get " + std::string(kGsa) + " under my-project",
                                 gtoken::GoogleError(403, "PERMISSION_DENIED", "x")});
    CHECK(reason_after(get, gtoken::GoogleError(403, "PERMISSION_DENIED", "x")) ==
          "PermissionDenied");
  }
  SUBCASE("401") {
    CHECK(reason_after(get, gtoken::GoogleError(401, "UNAUTHENTICATED", "x")) ==
          "GoogleAuthFailed");
  }
  SUBCASE("409 ABORTED on every write: retried with backoff, then ConcurrentPolicyChange") {
    for (int i = 0; i < 10; ++i) {
      w.google.failures.push_back(
          {"setIamPolicy " + std::string(kGsa), gtoken::GoogleError(409, "ABORTED", "etag")});
    }
    const auto start = w.clock->now();
    CHECK(w.run("b").is_error());
    CHECK(w.ready("b")["reason"] == "ConcurrentPolicyChange");
    CHECK(std::count(w.google.calls.begin(), w.google.calls.end(),
                     "setIamPolicy " + std::string(kGsa)) == 6);
    CHECK(w.clock->now() > start);  // backed off between attempts
  }
  SUBCASE("5xx") {
    CHECK(reason_after("getIamPolicy " + std::string(kGsa),
                       gtoken::GoogleError(503, "UNAVAILABLE", "x")) == "GoogleApiError");
    // Not trusted from the cache next time: the GSA is read again.
    w.run("b");
    CHECK(w.google.calls.front() == get);
    CHECK(w.ready("b")["status"] == "True");
  }
  SUBCASE("a disabled GSA") {
    w.google.gsas[kGsa]["disabled"] = true;
    CHECK(w.run("b").is_error());
    CHECK(w.ready("b")["reason"] == "GcpServiceAccountDisabled");
    CHECK(w.google.calls == Calls{get});
    // The uniqueId still describes the GSA the spec names.
    CHECK(w.b("b")["status"]["gcpServiceAccountUniqueId"] == "111");
  }
}

TEST_CASE("apiserver conflicts: read again, never act on a stale decision") {
  World w;
  w.add(binding("b"));
  SUBCASE("the record write conflicts: nothing is created or granted") {
    w.kube->fail("status awsrolebindings/b", fake::api_error(409, "Conflict"));
    CHECK(w.run("b").kind() == kube::Result::Kind::Requeue);
    CHECK(w.kube->calls.back() == "status awsrolebindings/b");
    CHECK_FALSE(w.sa());
    CHECK(w.google.calls.empty());
    // The next reconcile of the key reads live, and only that one.
    check_requeue_after_resync(w.run("b"));
    CHECK(w.kube->calls == Calls{"get awsrolebindings/b", "get serviceaccounts/orchestrator",
                                 "status awsrolebindings/b", "create serviceaccounts/orchestrator",
                                 "status awsrolebindings/b"});
    CHECK(w.ready("b")["status"] == "True");
  }
  SUBCASE("the final status write conflicts: requeued, and the next reconcile writes it") {
    w.kube->fail("status awsrolebindings/b", fake::api_error(409, "Conflict"), /*nth=*/2);
    CHECK(w.run("b").kind() == kube::Result::Kind::Requeue);
    // Everything was set up and recorded; only the conditions are missing,
    // and no Event was sent for a status that was not written.
    CHECK(w.kube->calls.back() == "status awsrolebindings/b");
    CHECK(w.b("b")["status"]["appliedTargets"].size() == 1);
    CHECK_FALSE(w.b("b")["status"].contains("conditions"));
    check_requeue_after_resync(w.run("b"));
    CHECK(w.kube->calls == Calls{"get awsrolebindings/b", "get serviceaccounts/orchestrator",
                                 "status awsrolebindings/b"});
    CHECK(w.ready("b")["status"] == "True");
  }
  SUBCASE("the ServiceAccount was created by someone else meanwhile (409 AlreadyExists)") {
    w.kube->fail("create serviceaccounts/orchestrator", fake::api_error(409, "AlreadyExists"));
    CHECK(w.run("b").kind() == kube::Result::Kind::Requeue);
    CHECK(w.google.calls.empty());
  }
  SUBCASE("a lost lease stops every write") {
    w.leader = false;
    CHECK(w.run("b").kind() == kube::Result::Kind::Ok);
    CHECK(w.kube->calls.empty());
  }
  SUBCASE("the binding is gone") {
    CHECK(w.run("missing").kind() == kube::Result::Kind::Ok);
    CHECK(w.kube->calls == Calls{"get awsrolebindings/missing"});
  }
}

TEST_CASE("stale caches: one write refused on the cached resourceVersion, then a live read") {
  World w;
  SUBCASE("the binding changed since the cache saw it: the finalizer patch is refused") {
    w.add(binding("b"));
    w.b("b")["metadata"]["resourceVersion"] = "999";  // the cache did not see this write
    CHECK(w.rec->reconcile("jobs/b").kind() == kube::Result::Kind::Requeue);
    w.kube->clear_calls();
    check_requeue_after_resync(w.rec->reconcile("jobs/b"));
    CHECK(w.kube->calls.front() == "get awsrolebindings/b");
    CHECK(w.b("b")["metadata"]["finalizers"] == json{"gtoken.io/cleanup"});
  }
  SUBCASE("a ServiceAccount the cache does not know yet: create refused, then read and applied") {
    w.add(binding("b"));
    w.kube->put("serviceaccounts", service_account("orchestrator", {{"team", "data"}}));
    CHECK(w.run("b").kind() == kube::Result::Kind::Requeue);
    CHECK(w.kube->calls.back() == "create serviceaccounts/orchestrator");
    CHECK(w.google.calls.empty());
    check_requeue_after_resync(w.run("b"));
    CHECK(w.kube->calls == Calls{"get awsrolebindings/b", "get serviceaccounts/orchestrator",
                                 "apply serviceaccounts/orchestrator", "status awsrolebindings/b"});
    CHECK((*w.sa())["metadata"]["annotations"]["gtoken.io/binding"] == "b");
    CHECK((*w.sa())["metadata"]["annotations"]["team"] == "data");
  }
  SUBCASE("a ServiceAccount changed since the cache saw it: the apply is refused") {
    w.put_sa(service_account("orchestrator", {{"team", "data"}}));
    w.add(binding("b"));
    (*w.sa())["metadata"]["resourceVersion"] = "998";
    CHECK(w.rec->reconcile("jobs/b").kind() == kube::Result::Kind::Requeue);
    w.kube->clear_calls();
    check_requeue_after_resync(w.rec->reconcile("jobs/b"));
    CHECK(w.kube->calls.front() == "get awsrolebindings/b");
    CHECK(w.kube->calls[1] == "get serviceaccounts/orchestrator");
    CHECK(w.ready("b")["status"] == "True");
  }
}

TEST_CASE("without a pod cache the ServiceAccount's pods are listed from the watch cache") {
  World w(/*allowed=*/true, /*pod_cache=*/false);
  w.add(binding("b"));
  check_requeue_after_resync(w.run("b"));
  CHECK(w.kube->calls == Calls{"patch-merge awsrolebindings/b", "status awsrolebindings/b",
                               "create serviceaccounts/orchestrator", "list pods",
                               "status awsrolebindings/b"});
  REQUIRE(w.kube->list_options.size() == 1);
  CHECK(w.kube->list_options[0].field_selector == "spec.serviceAccountName=orchestrator");
  CHECK(w.kube->list_options[0].resource_version == "0");
}

namespace {

const char* kIssuer = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c";
const char* kIssuerPath = "container.googleapis.com/v1/projects/p/locations/l/clusters/c";

json kubernetes_binding(const std::string& name, const std::string& ksa = "orchestrator") {
  json b = binding(name, ksa);
  b["spec"].erase("gcpServiceAccount");
  b["spec"]["tokenSource"] = "Kubernetes";
  return b;
}

}  // namespace

TEST_CASE("tokenSource Kubernetes: the EKS annotations, nothing on Google, an OIDC trust policy") {
  World w(true, true, kIssuer);
  json b = kubernetes_binding("k");
  b["spec"]["tokenExpirationSeconds"] = 3600;
  w.add(b);
  check_requeue_after_resync(w.run("k"));
  CHECK(w.kube->calls == Calls{"patch-merge awsrolebindings/k", "status awsrolebindings/k",
                               "create serviceaccounts/orchestrator", "status awsrolebindings/k"});
  CHECK(w.google.calls.empty());
  REQUIRE(w.sa());
  CHECK((*w.sa())["metadata"]["annotations"] ==
        json{{"eks.amazonaws.com/role-arn", kRole},
             {"eks.amazonaws.com/audience", "sts.amazonaws.com"},
             {"eks.amazonaws.com/token-expiration", "3600"},
             {"gtoken.io/binding", "k"},
             {"gtoken.io/created-by", "k"}});
  const json& st = w.b("k")["status"];
  CHECK(st["appliedTargets"] == json{{{"serviceAccountName", "orchestrator"},
                                      {"gcpServiceAccount", ""},
                                      {"awsRoleArn", kRole},
                                      {"project", ""},
                                      {"createdServiceAccount", true},
                                      {"tokenSource", "Kubernetes"}}});
  CHECK(st["oidcIssuer"] == kIssuer);
  const std::string provider =
      std::string("arn:aws:iam::123456789012:oidc-provider/") + kIssuerPath;
  CHECK(st["awsOidcProviderArn"] == provider);
  CHECK(st["awsOidcProviderCommand"] ==
        std::string("aws iam create-open-id-connect-provider --url ") + kIssuer +
            " --client-id-list sts.amazonaws.com");
  CHECK(json::parse(st["awsTrustPolicy"].get<std::string>()) ==
        gtoken::aws_oidc_trust_policy(provider, kIssuerPath, "jobs", "orchestrator",
                                      "sts.amazonaws.com"));
  CHECK_FALSE(st.contains("workloadIdentityMember"));
  CHECK_FALSE(st.contains("gcpServiceAccountUniqueId"));
  CHECK(w.ready("k")["status"] == "True");
  for (const auto& c : st["conditions"]) CHECK(c["type"] != "WorkloadIdentityReady");

  SUBCASE("a resync changes nothing and asks Google nothing") {
    check_requeue_after_resync(w.run("k"));
    CHECK(w.kube->calls == Calls{"get awsrolebindings/k"});
    CHECK(w.google.calls.empty());
  }
  SUBCASE("pods carrying the projected token volume are injected; others are counted") {
    w.kube->put("pods", {{"metadata", {{"name", "p1"}, {"namespace", "jobs"}}},
                         {"spec",
                          {{"serviceAccountName", "orchestrator"},
                           {"volumes", {{{"name", "aws-iam-token"}}}},
                           {"containers", {{{"name", "app"}}}}}}});
    w.kube->put("pods", {{"metadata", {{"name", "p2"}, {"namespace", "jobs"}}},
                         {"spec",
                          {{"serviceAccountName", "orchestrator"},
                           {"containers", {{{"name", "app"}}}}}}});
    w.sync();
    w.run("k");
    CHECK(w.b("k")["status"]["podsMissingInjection"] == 1);
  }
  SUBCASE("delete: the ServiceAccount it created goes, Google untouched") {
    w.b("k")["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z";
    w.bindings->apply(w.b("k"));
    CHECK(w.run("k").kind() == kube::Result::Kind::Ok);
    CHECK_FALSE(w.sa());
    CHECK(w.google.calls.empty());
  }
  SUBCASE("a token lifetime removed from the spec is removed from the ServiceAccount") {
    w.b("k")["spec"].erase("tokenExpirationSeconds");
    w.b("k")["metadata"]["generation"] = 2;
    w.bindings->apply(w.b("k"));
    w.run("k");
    CHECK_FALSE((*w.sa())["metadata"]["annotations"].contains("eks.amazonaws.com/token-expiration"));
    CHECK((*w.sa())["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == kRole);
  }
}

TEST_CASE("tokenSource Kubernetes on a ServiceAccount someone annotated: hand values adopted, others a Conflict") {
  World w(true, true, kIssuer);
  SUBCASE("the same role set by hand (EKS-style) is adopted and left on delete") {
    w.put_sa(service_account("orchestrator", {{"eks.amazonaws.com/role-arn", kRole}}));
    w.add(kubernetes_binding("k"));
    w.run("k");
    CHECK(w.ready("k")["status"] == "True");
    CHECK(w.b("k")["status"]["appliedTargets"][0]["preexistingAnnotations"] ==
          json{"eks.amazonaws.com/role-arn"});
    w.b("k")["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z";
    w.bindings->apply(w.b("k"));
    CHECK(w.run("k").kind() == kube::Result::Kind::Ok);
    REQUIRE(w.sa());
    CHECK((*w.sa())["metadata"]["annotations"] == json{{"eks.amazonaws.com/role-arn", kRole}});
  }
  SUBCASE("another role set by hand is never overwritten") {
    w.put_sa(service_account("orchestrator", {{"eks.amazonaws.com/role-arn", kRole2}}));
    w.add(kubernetes_binding("k"));
    w.run("k");
    CHECK(w.ready("k")["reason"] == "Conflict");
    CHECK(w.ready("k")["message"].get<std::string>().find("eks.amazonaws.com/role-arn=") !=
          std::string::npos);
    CHECK((*w.sa())["metadata"]["annotations"] == json{{"eks.amazonaws.com/role-arn", kRole2}});
  }
  SUBCASE("a token lifetime set by hand stays, across resyncs and on delete") {
    w.put_sa(service_account("orchestrator", {{"eks.amazonaws.com/role-arn", kRole},
                                              {"eks.amazonaws.com/token-expiration", "3600"}}));
    w.add(kubernetes_binding("k"));  // no tokenExpirationSeconds
    w.run("k");
    CHECK(w.ready("k")["status"] == "True");
    CHECK((*w.sa())["metadata"]["annotations"]["eks.amazonaws.com/token-expiration"] == "3600");
    w.run("k");
    w.run("k");
    CHECK((*w.sa())["metadata"]["annotations"]["eks.amazonaws.com/token-expiration"] == "3600");
    w.b("k")["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z";
    w.bindings->apply(w.b("k"));
    CHECK(w.run("k").kind() == kube::Result::Kind::Ok);
    REQUIRE(w.sa());
    CHECK((*w.sa())["metadata"]["annotations"] ==
          json{{"eks.amazonaws.com/role-arn", kRole}, {"eks.amazonaws.com/token-expiration", "3600"}});
  }
  SUBCASE("set up by hand for the Google source: a Conflict, not a binding the webhook ignores") {
    // With a GSA annotated, the webhook injects the Google source: an EKS
    // role-arn added beside it would never be used.
    w.put_sa(service_account("orchestrator", {{"iam.gke.io/gcp-service-account", kGsa},
                                              {"amazonaws.com/role-arn", kRole}}));
    w.add(kubernetes_binding("k"));
    w.run("k");
    CHECK(w.ready("k")["reason"] == "Conflict");
    CHECK(w.ready("k")["message"].get<std::string>().find("iam.gke.io/gcp-service-account=") !=
          std::string::npos);
    CHECK_FALSE((*w.sa())["metadata"]["annotations"].contains("eks.amazonaws.com/role-arn"));
  }
}

TEST_CASE("tokenSource Google on a ServiceAccount set up by hand for EKS: a Conflict; its token lifetime is not touched") {
  World w(true, true, kIssuer);
  SUBCASE("an EKS role-arn set by hand would be overridden: Conflict") {
    w.put_sa(service_account("orchestrator", {{"eks.amazonaws.com/role-arn", kRole2}}));
    w.add(binding("b"));
    w.run("b");
    CHECK(w.ready("b")["reason"] == "Conflict");
    CHECK(w.ready("b")["message"].get<std::string>().find("eks.amazonaws.com/role-arn=") !=
          std::string::npos);
    CHECK((*w.sa())["metadata"]["annotations"] == json{{"eks.amazonaws.com/role-arn", kRole2}});
  }
  SUBCASE("eks.amazonaws.com/token-expiration is not a key a Google binding owns") {
    w.put_sa(service_account("orchestrator", {{"eks.amazonaws.com/token-expiration", "3600"}}));
    w.add(binding("b"));
    w.run("b");
    CHECK(w.ready("b")["status"] == "True");
    w.run("b");
    CHECK((*w.sa())["metadata"]["annotations"]["eks.amazonaws.com/token-expiration"] == "3600");
  }
}

TEST_CASE("tokenSource Kubernetes without a known issuer: set up, Ready, and says what is missing") {
  World w;  // no --oidc-issuer and nothing discovered
  w.add(kubernetes_binding("k"));
  check_requeue_after_resync(w.run("k"));
  CHECK(w.ready("k")["status"] == "True");
  CHECK(w.ready("k")["message"].get<std::string>().find("--oidc-issuer") != std::string::npos);
  const json& st = w.b("k")["status"];
  CHECK_FALSE(st.contains("awsTrustPolicy"));
  CHECK_FALSE(st.contains("awsOidcProviderCommand"));
  CHECK((*w.sa())["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == kRole);
}

TEST_CASE("tokenSource Kubernetes refused by every policy: NotAllowed, and nothing is set up") {
  World w(true, true, kIssuer);
  w.policies->replace({{{"metadata", {{"name", "google-only"}}},
                        {"spec",
                         {{"namespaces", {{"names", {"jobs"}}}},
                          {"gcpServiceAccounts", {"*@my-project.iam.gserviceaccount.com"}},
                          {"awsRoles", {"123456789012"}}}}}});
  w.add(kubernetes_binding("k"));
  w.run("k");
  CHECK(w.ready("k")["reason"] == "NotAllowed");
  CHECK(w.ready("k")["message"].get<std::string>().find("tokenSource Kubernetes") !=
        std::string::npos);
  CHECK_FALSE(w.sa());
  CHECK(w.google.calls.empty());
}

namespace {

// IAM as the verify path sees it: one role whose stored trust policy the
// test edits, or an error IAM answers.
struct ScriptedIam {
  std::string document;
  std::optional<gtoken::aws::IamCallError> error;
  int reads = 0;
  int writes = 0;
  gtoken::AwsIo io() {
    gtoken::AwsIo a;
    a.get_role = [this](const std::string& name) {
      ++reads;
      if (name != "uploader") throw std::logic_error("read a role the binding does not name: " + name);
      if (error) throw *error;
      gtoken::aws::IamRole r;
      r.name = name;
      r.arn = kRole;
      r.path = "/";
      r.trust_policy = document;
      return r;
    };
    a.update_assume_role_policy = [this](const std::string& name, const std::string& doc) {
      if (name != "uploader") throw std::logic_error("wrote a role the binding does not name: " + name);
      ++writes;
      document = doc;
    };
    return a;
  }
};

gtoken::aws::IamCallError iam_error(int http, const std::string& code) {
  return gtoken::aws::IamCallError(http, {"Sender", code, "said " + code, "r1"},
                                   "IAM GetRole: HTTP " + std::to_string(http) + " " + code);
}

std::string admitting(const std::string& unique_id) {
  return gtoken::aws_trust_policy(unique_id, gtoken::contract::kDefaultAudience).dump();
}

}  // namespace

TEST_CASE("verify: without AWS credentials the condition says Unverified and Ready is untouched") {
  World w;
  w.add(binding("b"));
  w.run("b");
  CHECK(w.trust("b")["status"] == "Unknown");
  CHECK(w.trust("b")["reason"] == "Unverified");
  CHECK(w.ready("b")["status"] == "True");
}

TEST_CASE("verify: the role's stored trust policy decides TrustPolicyVerified and Ready") {
  auto iam = std::make_shared<ScriptedIam>();
  iam->document = admitting("111");
  World w(true, true, "", iam->io());
  w.add(binding("b"));
  check_requeue_after_resync(w.run("b"));
  CHECK(w.trust("b")["status"] == "True");
  CHECK(w.trust("b")["reason"] == "Verified");
  CHECK(w.ready("b")["status"] == "True");
  CHECK(iam->reads == 1);
  w.run("b");
  CHECK(iam->reads == 1);  // within the cache's TTL

  SUBCASE("a later foreign edit is drift: Mismatch, Ready False, one Event") {
    iam->document = admitting("999");
    w.clock->advance(std::chrono::seconds(31));
    check_requeue_after_resync(w.run("b"));
    CHECK(iam->reads == 2);
    CHECK(w.trust("b")["status"] == "False");
    CHECK(w.trust("b")["reason"] == "TrustPolicyMismatch");
    CHECK(w.ready("b")["status"] == "False");
    CHECK(w.ready("b")["reason"] == "TrustPolicyMismatch");
    REQUIRE(w.kube->events.size() == 2);
    CHECK(std::count(w.kube->calls.begin(), w.kube->calls.end(), "event TrustPolicyDrift") == 1);
    // Still mismatched at the next resync: no second drift Event.
    w.clock->advance(std::chrono::seconds(31));
    w.run("b");
    CHECK(std::count(w.kube->calls.begin(), w.kube->calls.end(), "event TrustPolicyDrift") == 0);
    // Fixed by hand: Verified again, Ready again.
    iam->document = admitting("111");
    w.clock->advance(std::chrono::seconds(31));
    w.run("b");
    CHECK(w.trust("b")["status"] == "True");
    CHECK(w.ready("b")["status"] == "True");
  }
  SUBCASE("no statement for gtoken's provider at all: TrustPolicyMissing") {
    iam->document = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]})";
    w.clock->advance(std::chrono::seconds(31));
    w.run("b");
    CHECK(w.trust("b")["reason"] == "TrustPolicyMissing");
    CHECK(w.ready("b")["status"] == "False");
  }
  SUBCASE("the role deleted: RoleNotFound, Ready False") {
    iam->error = iam_error(404, "NoSuchEntity");
    w.clock->advance(std::chrono::seconds(31));
    w.run("b");
    CHECK(w.trust("b")["status"] == "False");
    CHECK(w.trust("b")["reason"] == "RoleNotFound");
    CHECK(w.ready("b")["reason"] == "RoleNotFound");
  }
  SUBCASE("the operator may not read the role: AccessDenied is Unknown, Ready stays True") {
    iam->error = iam_error(403, "AccessDenied");
    w.clock->advance(std::chrono::seconds(31));
    check_requeue_after_resync(w.run("b"));
    CHECK(w.trust("b")["status"] == "Unknown");
    CHECK(w.trust("b")["reason"] == "AccessDenied");
    CHECK(w.ready("b")["status"] == "True");
  }
  SUBCASE("IAM throttling: IamError, retried with backoff, and not cached") {
    iam->error = iam_error(400, "Throttling");
    w.clock->advance(std::chrono::seconds(31));
    kube::Result r = w.run("b");
    CHECK(r.kind() == kube::Result::Kind::Error);
    CHECK(w.trust("b")["reason"] == "IamError");
    CHECK(w.ready("b")["status"] == "True");
    iam->error.reset();
    const int before = iam->reads;
    w.run("b");
    CHECK(iam->reads == before + 1);
    CHECK(w.trust("b")["reason"] == "Verified");
  }
}

TEST_CASE("apply: gtoken's statement merged in, kept once, and removed with the binding") {
  const std::string foreign =
      R"({ "Version": "2012-10-17", "Statement": [ {"Sid":"Ops","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"} ] })";
  const std::string ops_statement =
      R"({"Sid":"Ops","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"})";
  auto iam = std::make_shared<ScriptedIam>();
  iam->document = foreign;
  World w(true, true, "", iam->io(), true);
  w.add(binding("b"));
  w.run("b");
  CHECK(iam->writes == 1);
  CHECK(iam->document.find(ops_statement) != std::string::npos);  // byte for byte
  CHECK(iam->document.find("GtokenManaged") != std::string::npos);
  CHECK(iam->document.find("\"111\"") != std::string::npos);
  CHECK(w.trust("b")["reason"] == "Verified");
  CHECK(w.ready("b")["status"] == "True");
  // Already there: read, not written again.
  w.clock->advance(std::chrono::seconds(31));
  w.run("b");
  CHECK(iam->writes == 1);

  SUBCASE("deleted: only gtoken's statement goes") {
    w.b("b")["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z";
    w.bindings->apply(w.b("b"));
    CHECK(w.run("b").kind() == kube::Result::Kind::Ok);
    CHECK(iam->writes == 2);
    CHECK(iam->document.find(ops_statement) != std::string::npos);
    CHECK(iam->document.find("111") == std::string::npos);
  }
}

TEST_CASE("apply: a binding no Apply policy allows is verified, never written") {
  auto iam = std::make_shared<ScriptedIam>();
  iam->document = R"({"Version":"2012-10-17","Statement":[]})";
  World w(true, true, "", iam->io(), true, false);
  w.add(binding("b"));
  w.run("b");
  CHECK(iam->writes == 0);
  CHECK(w.trust("b")["reason"] == "TrustPolicyMissing");
  CHECK(w.trust("b")["message"].get<std::string>().find("trustPolicy: Apply") != std::string::npos);
}
