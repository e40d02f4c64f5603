// The pod cache behind status.podsMissingInjection: what a cached pod keeps,
// which pods count, and the index by namespace and ServiceAccount.
#include <doctest/doctest.h>

#include "operator/pod_index.hpp"

using nlohmann::json;
using Names = std::vector<std::string>;

namespace {

json pod(const std::string& name, const std::string& ksa, const json& containers,
         const json& extra_meta = json::object(), const std::string& phase = "Running") {
  json m = {{"name", name},
            {"namespace", "jobs"},
            {"resourceVersion", "5"},
            {"labels", {{"app", "x"}}},
            {"managedFields", json::array({{{"manager", "k"}}})}};
  m.update(extra_meta);
  json ctrs = json::array();
  for (const auto& c : containers) ctrs.push_back({{"name", c}, {"image", "img"}});
  return {{"metadata", m},
          {"spec", {{"serviceAccountName", ksa}, {"containers", ctrs}}},
          {"status", {{"phase", phase}}}};
}

}  // namespace

TEST_CASE("pod_missing_injection: running, not opted out, no agent container") {
  CHECK(gtoken::pod_missing_injection(pod("p", "a", {"app"}), "gtoken", false));
  CHECK_FALSE(gtoken::pod_missing_injection(pod("p", "a", {"app", "gtoken"}), "gtoken", false));
  json init = pod("p", "a", {"app"});
  init["spec"]["initContainers"] = json::array({{{"name", "gtoken-init"}}});
  CHECK_FALSE(gtoken::pod_missing_injection(init, "gtoken", false));
  CHECK_FALSE(gtoken::pod_missing_injection(
      pod("p", "a", {"app"}, {{"annotations", {{"gtoken.io/inject", "false"}}}}), "gtoken", false));
  CHECK_FALSE(gtoken::pod_missing_injection(pod("p", "a", {"app"}, {{"deletionTimestamp", "t"}}),
                                            "gtoken", false));
  CHECK_FALSE(
      gtoken::pod_missing_injection(pod("p", "a", {"app"}, json::object(), "Succeeded"), "gtoken", false));
  CHECK_FALSE(
      gtoken::pod_missing_injection(pod("p", "a", {"app"}, json::object(), "Failed"), "gtoken", false));
  CHECK(gtoken::pod_missing_injection(pod("p", "a", {"app"}, json::object(), "Pending"), "gtoken", false));
  // Hostile shapes do not throw.
  CHECK(gtoken::pod_missing_injection(json{{"spec", {{"containers", {1, "x"}}}}}, "gtoken", false));
  CHECK(gtoken::pod_missing_injection(json::object(), "gtoken", false));
}

TEST_CASE("slim_pod keeps the name, the ServiceAccount and the verdict only") {
  CHECK(gtoken::slim_pod(pod("p", "a", {"app"}), "gtoken") ==
        json{{"metadata", {{"name", "p"}, {"namespace", "jobs"}, {"resourceVersion", "5"}}},
             {"spec", {{"serviceAccountName", "a"}}},
             {"missingAgent", true},
             {"missingToken", true}});
  CHECK(gtoken::slim_pod(pod("p", "a", {"gtoken"}), "gtoken")["missingAgent"] == false);
}

TEST_CASE("PodIndex: pods missing injection by namespace and ServiceAccount") {
  gtoken::PodIndex idx;
  auto put = [&](const json& p) { idx.update(gtoken::slim_pod(p, "gtoken")); };
  put(pod("p2", "a", {"app"}));
  put(pod("p1", "a", {"app"}));
  put(pod("q", "b", {"app"}));
  put(pod("ok", "a", {"app", "gtoken"}));
  CHECK(idx.missing("jobs", "a", false) == Names{"p1", "p2"});
  CHECK(idx.missing("jobs", "b", false) == Names{"q"});
  CHECK(idx.missing("other", "a", false).empty());
  CHECK(idx.size(false) == 3);

  SUBCASE("a pod that finishes, or is deleted, stops counting") {
    put(pod("p1", "a", {"app"}, json::object(), "Succeeded"));
    CHECK(idx.missing("jobs", "a", false) == Names{"p2"});
    idx.remove(gtoken::slim_pod(pod("p2", "a", {"app"}), "gtoken"));
    CHECK(idx.missing("jobs", "a", false).empty());
    CHECK(idx.size(false) == 1);
  }
  SUBCASE("updates are idempotent; removing an unknown pod is a no-op") {
    put(pod("p1", "a", {"app"}));
    idx.remove(gtoken::slim_pod(pod("nobody", "a", {"app"}), "gtoken"));
    CHECK(idx.missing("jobs", "a", false) == Names{"p1", "p2"});
    CHECK(idx.size(false) == 3);
  }
}

TEST_CASE("each token source's injection is its own: an agent is no token volume, and back") {
  json with_volume = pod("v", "a", {"app"});
  with_volume["spec"]["volumes"] = json::array({{{"name", "aws-iam-token"}}});
  json with_agent = pod("g", "a", {"app", "gtoken"});
  // A volume left by an EKS webhook does not make a Google-bound pod injected.
  CHECK(gtoken::pod_missing_injection(with_volume, "gtoken", false));
  CHECK_FALSE(gtoken::pod_missing_injection(with_volume, "gtoken", true));
  // A container named like the agent is the user's under a Kubernetes binding.
  CHECK_FALSE(gtoken::pod_missing_injection(with_agent, "gtoken", false));
  CHECK(gtoken::pod_missing_injection(with_agent, "gtoken", true));
  // Opted out, finished or deleting: counted for neither.
  json done = pod("d", "a", {"app"}, json::object(), "Succeeded");
  CHECK_FALSE(gtoken::pod_missing_injection(done, "gtoken", true));

  gtoken::PodIndex idx;
  for (const json& p : {with_volume, with_agent}) idx.update(gtoken::slim_pod(p, "gtoken"));
  CHECK(idx.missing("jobs", "a", false) == Names{"v"});
  CHECK(idx.missing("jobs", "a", true) == Names{"g"});
  // The volume goes (a new pod spec is not possible, but a cached update
  // can flip the mark): the pod moves between the sides.
  with_volume["spec"].erase("volumes");
  idx.update(gtoken::slim_pod(with_volume, "gtoken"));
  CHECK(idx.missing("jobs", "a", true) == Names{"g", "v"});
  idx.remove(gtoken::slim_pod(with_volume, "gtoken"));
  CHECK(idx.missing("jobs", "a", false).empty());
  CHECK(idx.missing("jobs", "a", true) == Names{"g"});
  CHECK(idx.size(true) == 1);
}
