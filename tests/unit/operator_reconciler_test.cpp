// The reconciler's pure parts: conditions, recorded targets, the
// ServiceAccount annotations a binding wants, and which watch updates need a
// reconcile.
#include <doctest/doctest.h>

#include "kube/time.hpp"

#include <chrono>

#include "operator/reconciler.hpp"

using json = nlohmann::json;
using gtoken::Target;

namespace {

json conds() { return json::array(); }

}  // namespace

TEST_CASE("set_condition adds a condition with every metav1.Condition field") {
  json c = conds();
  CHECK(gtoken::set_condition(c, "Ready", "False", "GcpServiceAccountNotFound", "create it", 3,
                              "2024-01-01T00:00:00Z"));
  REQUIRE(c.size() == 1);
  CHECK(c[0] == json{{"type", "Ready"},
                     {"status", "False"},
                     {"reason", "GcpServiceAccountNotFound"},
                     {"message", "create it"},
                     {"observedGeneration", 3},
                     {"lastTransitionTime", "2024-01-01T00:00:00Z"}});
}

TEST_CASE("lastTransitionTime changes only when the status changes") {
  json c = conds();
  gtoken::set_condition(c, "Ready", "False", "A", "m1", 1, "T1");
  SUBCASE("same status, other reason and message: time kept, change reported") {
    CHECK(gtoken::set_condition(c, "Ready", "False", "B", "m2", 2, "T2"));
    CHECK(c[0]["lastTransitionTime"] == "T1");
    CHECK(c[0]["reason"] == "B");
    CHECK(c[0]["message"] == "m2");
    CHECK(c[0]["observedGeneration"] == 2);
  }
  SUBCASE("nothing but the generation changed: no change reported, generation updated") {
    CHECK_FALSE(gtoken::set_condition(c, "Ready", "False", "A", "m1", 5, "T2"));
    CHECK(c[0]["lastTransitionTime"] == "T1");
    CHECK(c[0]["observedGeneration"] == 5);
  }
  SUBCASE("status flips: new time") {
    CHECK(gtoken::set_condition(c, "Ready", "True", "Ready", "ok", 1, "T3"));
    CHECK(c[0]["lastTransitionTime"] == "T3");
    CHECK(c[0]["status"] == "True");
  }
}

TEST_CASE("set_condition keeps other conditions and their order") {
  json c = conds();
  gtoken::set_condition(c, "ServiceAccountReady", "True", "Annotated", "m", 1, "T1");
  gtoken::set_condition(c, "WorkloadIdentityReady", "True", "MemberBound", "m", 1, "T1");
  gtoken::set_condition(c, "Ready", "True", "Ready", "m", 1, "T1");
  gtoken::set_condition(c, "WorkloadIdentityReady", "False", "PermissionDenied", "m", 2, "T2");
  REQUIRE(c.size() == 3);
  CHECK(c[0]["type"] == "ServiceAccountReady");
  CHECK(c[1]["type"] == "WorkloadIdentityReady");
  CHECK(c[1]["lastTransitionTime"] == "T2");
  CHECK(c[2]["type"] == "Ready");
  CHECK(c[2]["lastTransitionTime"] == "T1");
}

TEST_CASE("set_condition on a non-array starts a list") {
  json c = nullptr;
  gtoken::set_condition(c, "Ready", "Unknown", "Pending", "m", 0, "T");
  CHECK(c.is_array());
  CHECK(c.size() == 1);
}

TEST_CASE("Target round-trips through its status JSON") {
  Target t{"ksa", "gsa@p.iam.gserviceaccount.com", "arn:aws:iam::123456789012:role/r", "p", true, {}};
  json j = t.to_json();
  CHECK(j == json{{"serviceAccountName", "ksa"},
                  {"gcpServiceAccount", "gsa@p.iam.gserviceaccount.com"},
                  {"awsRoleArn", "arn:aws:iam::123456789012:role/r"},
                  {"project", "p"},
                  {"createdServiceAccount", true}});
  Target back = Target::from_json(j);
  CHECK(back.same_as(t));
  CHECK(back.created_sa);
  CHECK(Target::from_json(back.to_json()).to_json() == j);
}

TEST_CASE("Target::from_json tolerates missing fields; same_as ignores created_sa") {
  Target t = Target::from_json(json::object());
  CHECK(t.ksa.empty());
  CHECK_FALSE(t.created_sa);
  Target a{"k", "g", "r", "p", false, {}};
  Target b{"k", "g", "r", "p", true, {"iam.gke.io/gcp-service-account"}};
  CHECK(a.same_as(b));
  for (Target other : {Target{"x", "g", "r", "p", false, {}}, Target{"k", "x", "r", "p", false, {}},
                       Target{"k", "g", "x", "p", false, {}}, Target{"k", "g", "r", "x", false, {}}}) {
    CHECK_FALSE(a.same_as(other));
  }
}

TEST_CASE("preexisting annotations round-trip; only valid targets are used as names") {
  Target t{"ksa", "gsa-name@p.iam.gserviceaccount.com", "arn:aws:iam::123456789012:role/r", "p",
           false, {"iam.gke.io/gcp-service-account", "amazonaws.com/role-arn"}};
  CHECK(t.valid());
  Target back = Target::from_json(t.to_json());
  CHECK(back.preexisting == t.preexisting);
  CHECK(t.to_json().contains("preexistingAnnotations"));
  CHECK_FALSE(Target{"k", "g", "r", "p", false, {}}.to_json().contains("preexistingAnnotations"));

  // What anyone with status access could write must never become a request.
  for (const char* ksa : {"x\r\nDELETE /api/v1/namespaces/v/serviceaccounts/t HTTP/1.1", "../v",
                          "a/b", "A", "", "x%0d%0a"}) {
    Target bad = t;
    bad.ksa = ksa;
    CHECK_FALSE(bad.valid());
  }
  Target bad_gsa = t;
  bad_gsa.gsa = "a@b/../../projects/x";
  CHECK_FALSE(bad_gsa.valid());
  Target bad_arn = t;
  bad_arn.role_arn = "arn:aws:iam::1:role/x\r\n";
  CHECK_FALSE(bad_arn.valid());
  CHECK(gtoken::valid_gsa_email("uploader@my-project.iam.gserviceaccount.com"));
  CHECK_FALSE(gtoken::valid_gsa_email("up loader@x"));
  CHECK_FALSE(gtoken::valid_gsa_email("@x"));
}

TEST_CASE("wanted_annotations: the keys the webhook reads") {
  json spec = {{"serviceAccountName", "ksa"},
               {"gcpServiceAccount", "g@p.iam.gserviceaccount.com"},
               {"awsRoleArn", "arn:aws:iam::123456789012:role/r"}};
  json want = gtoken::wanted_annotations("b1", spec, "default-aud");
  CHECK(want == json{{"iam.gke.io/gcp-service-account", "g@p.iam.gserviceaccount.com"},
                     {"amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/r"},
                     {"gtoken.io/binding", "b1"},
                     {"gtoken.io/audience", "default-aud"}});
  spec["audience"] = "mine";
  spec["region"] = "eu-west-1";
  spec["containers"] = {"app", "sidecar"};
  want = gtoken::wanted_annotations("b1", spec, "default-aud");
  CHECK(want["gtoken.io/audience"] == "mine");
  CHECK(want["gtoken.io/region"] == "eu-west-1");
  CHECK(want["gtoken.io/containers"] == "app,sidecar");
  spec["containers"] = json::array();
  spec["region"] = "";
  want = gtoken::wanted_annotations("b1", spec, "default-aud");
  CHECK_FALSE(want.contains("gtoken.io/containers"));
  CHECK_FALSE(want.contains("gtoken.io/region"));
}

TEST_CASE("annotations_match ignores other annotations but not stale optional keys") {
  json want = {{"iam.gke.io/gcp-service-account", "g"}, {"gtoken.io/binding", "b"}};
  json have = {{"iam.gke.io/gcp-service-account", "g"},
               {"gtoken.io/binding", "b"},
               {"someone/else", "x"}};
  const auto keys = gtoken::owned_optional_keys(false, {});
  CHECK(gtoken::annotations_match(have, want, keys));
  have["iam.gke.io/gcp-service-account"] = "changed";
  CHECK_FALSE(gtoken::annotations_match(have, want, keys));
  have["iam.gke.io/gcp-service-account"] = "g";
  have["gtoken.io/region"] = "us-east-1";  // the binding no longer sets a region
  CHECK_FALSE(gtoken::annotations_match(have, want, keys));
  // ...unless the region was on the ServiceAccount before gtoken came.
  CHECK(gtoken::annotations_match(have, want, gtoken::owned_optional_keys(false, {"gtoken.io/region"})));
  CHECK_FALSE(gtoken::annotations_match(json::object(), want, keys));
  CHECK_FALSE(gtoken::annotations_match(nullptr, want, keys));
}

TEST_CASE("binding_update_needs_reconcile: spec, deletion, finalizers; not status") {
  json old_b = {{"metadata",
                 {{"name", "b"}, {"uid", "u1"}, {"generation", 1}, {"resourceVersion", "10"},
                  {"finalizers", {"gtoken.io/cleanup"}}}},
                {"status", {{"observedGeneration", 1}}}};
  json b = old_b;
  b["metadata"]["resourceVersion"] = "11";
  b["status"]["observedGeneration"] = 2;
  CHECK_FALSE(gtoken::binding_update_needs_reconcile(old_b, b));
  b["metadata"]["generation"] = 2;
  CHECK(gtoken::binding_update_needs_reconcile(old_b, b));
  b = old_b;
  b["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z";
  CHECK(gtoken::binding_update_needs_reconcile(old_b, b));
  b = old_b;
  b["metadata"]["finalizers"] = json::array();  // someone removed ours
  CHECK(gtoken::binding_update_needs_reconcile(old_b, b));
  // adding ours (our own write) or someone else's finalizer: nothing to do
  CHECK_FALSE(gtoken::binding_update_needs_reconcile(b, old_b));
  b = old_b;
  b["metadata"]["finalizers"].push_back("example.com/other");
  CHECK_FALSE(gtoken::binding_update_needs_reconcile(old_b, b));
  b = old_b;
  b["metadata"]["uid"] = "u2";  // deleted and created again between two events
  CHECK(gtoken::binding_update_needs_reconcile(old_b, b));
}

TEST_CASE("gsa_project reads the project of a user-managed GSA email") {
  CHECK(gtoken::gsa_project("app@my-project.iam.gserviceaccount.com") == "my-project");
  CHECK(gtoken::gsa_project("app@example.com:proj.iam.gserviceaccount.com") == "example.com:proj");
  CHECK(gtoken::gsa_project("123-compute@developer.gserviceaccount.com").empty());
  CHECK(gtoken::gsa_project("no-at-sign").empty());
  CHECK(gtoken::gsa_project("a@.iam.gserviceaccount.com").empty());
}

TEST_CASE("rfc3339 formats metav1.Time and MicroTime in UTC") {
  using namespace std::chrono;
  system_clock::time_point t = system_clock::time_point{} + seconds(1700000000) + microseconds(42);
  CHECK(kube::format_rfc3339(t) == "2023-11-14T22:13:20Z");
  CHECK(kube::format_micro_time(t) == "2023-11-14T22:13:20.000042Z");
}

TEST_CASE("slim_binding keeps what the controller decides on and drops the bulk") {
  json b = json::parse(R"js({
    "apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBinding",
    "metadata": {"name": "b", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                 "generation": 2, "creationTimestamp": "2024-01-01T00:00:00Z",
                 "deletionTimestamp": "2024-01-02T00:00:00Z", "finalizers": ["gtoken.io/cleanup"],
                 "labels": {"a": "b"}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                 "managedFields": [{"manager": "kubectl"}]},
    "spec": {"serviceAccountName": "ksa", "gcpServiceAccount": "g", "awsRoleArn": "r"},
    "status": {"observedGeneration": 2, "awsTrustPolicy": "{...}", "gcpServiceAccountUniqueId": "1",
               "appliedTargets": [{"serviceAccountName": "ksa"}],
               "conditions": [{"type": "ServiceAccountReady", "status": "True", "reason": "Annotated", "message": "m"},
                              {"type": "Ready", "status": "False", "reason": "Conflict", "message": "long",
                               "lastTransitionTime": "t", "observedGeneration": 2}]}
  })js");
  json s = gtoken::slim_binding(b);
  // What was dropped of the status is marked: the reconciler reads such a
  // binding live.
  CHECK(s == json::parse(R"js({
    "apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBinding", "gtoken.io/partial-status": true,
    "metadata": {"name": "b", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                 "generation": 2, "creationTimestamp": "2024-01-01T00:00:00Z",
                 "deletionTimestamp": "2024-01-02T00:00:00Z", "finalizers": ["gtoken.io/cleanup"]},
    "spec": {"serviceAccountName": "ksa", "gcpServiceAccount": "g", "awsRoleArn": "r"},
    "status": {"appliedTargets": [{"serviceAccountName": "ksa"}],
               "conditions": [{"type": "Ready", "status": "False", "reason": "Conflict"}]}
  })js"));
  CHECK(gtoken::slim_binding(json{{"metadata", {{"name", "x"}}}}).value("status", json()) == json());
  CHECK_FALSE(gtoken::cached_binding_usable(s));
  // A new binding, or one with only its record written, is held whole.
  json recorded = b;
  recorded["metadata"].erase("deletionTimestamp");
  recorded["status"] = {{"appliedTargets", json::array()}};
  CHECK(gtoken::cached_binding_usable(gtoken::slim_binding(recorded)));
  recorded.erase("status");
  CHECK(gtoken::cached_binding_usable(gtoken::slim_binding(recorded)));
  // Deleting: read live.
  recorded["metadata"]["deletionTimestamp"] = "t";
  CHECK_FALSE(gtoken::cached_binding_usable(gtoken::slim_binding(recorded)));
}
