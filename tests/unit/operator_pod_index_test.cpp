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
  CHECK(gtoken::pod_missing_injection(pod("p", "a", {"app"}), "gtoken"));
  CHECK_FALSE(gtoken::pod_missing_injection(pod("p", "a", {"app", "gtoken"}), "gtoken"));
  json init = pod("p", "a", {"app"});
  init["spec"]["initContainers"] = json::array({{{"name", "gtoken-init"}}});
  CHECK_FALSE(gtoken::pod_missing_injection(init, "gtoken"));
  CHECK_FALSE(gtoken::pod_missing_injection(
      pod("p", "a", {"app"}, {{"annotations", {{"gtoken.io/inject", "false"}}}}), "gtoken"));
  CHECK_FALSE(gtoken::pod_missing_injection(pod("p", "a", {"app"}, {{"deletionTimestamp", "t"}}),
                                            "gtoken"));
  CHECK_FALSE(
      gtoken::pod_missing_injection(pod("p", "a", {"app"}, json::object(), "Succeeded"), "gtoken"));
  CHECK_FALSE(
      gtoken::pod_missing_injection(pod("p", "a", {"app"}, json::object(), "Failed"), "gtoken"));
  CHECK(gtoken::pod_missing_injection(pod("p", "a", {"app"}, json::object(), "Pending"), "gtoken"));
  // Hostile shapes do not throw.
  CHECK(gtoken::pod_missing_injection(json{{"spec", {{"containers", {1, "x"}}}}}, "gtoken"));
  CHECK(gtoken::pod_missing_injection(json::object(), "gtoken"));
}

TEST_CASE("slim_pod keeps the name, the ServiceAccount and the verdict only") {
  CHECK(gtoken::slim_pod(pod("p", "a", {"app"}), "gtoken") ==
        json{{"metadata", {{"name", "p"}, {"namespace", "jobs"}, {"resourceVersion", "5"}}},
             {"spec", {{"serviceAccountName", "a"}}},
             {"missingInjection", true}});
  CHECK(gtoken::slim_pod(pod("p", "a", {"gtoken"}), "gtoken")["missingInjection"] == false);
}

TEST_CASE("PodIndex: pods missing injection by namespace and ServiceAccount") {
  gtoken::PodIndex idx;
  auto put = [&](const json& p) { idx.update(gtoken::slim_pod(p, "gtoken")); };
  put(pod("p2", "a", {"app"}));
  put(pod("p1", "a", {"app"}));
  put(pod("q", "b", {"app"}));
  put(pod("ok", "a", {"app", "gtoken"}));
  CHECK(idx.missing("jobs", "a") == Names{"p1", "p2"});
  CHECK(idx.missing("jobs", "b") == Names{"q"});
  CHECK(idx.missing("other", "a").empty());
  CHECK(idx.size() == 3);

  SUBCASE("a pod that finishes, or is deleted, stops counting") {
    put(pod("p1", "a", {"app"}, json::object(), "Succeeded"));
    CHECK(idx.missing("jobs", "a") == Names{"p2"});
    idx.remove(gtoken::slim_pod(pod("p2", "a", {"app"}), "gtoken"));
    CHECK(idx.missing("jobs", "a").empty());
    CHECK(idx.size() == 1);
  }
  SUBCASE("updates are idempotent; removing an unknown pod is a no-op") {
    put(pod("p1", "a", {"app"}));
    idx.remove(gtoken::slim_pod(pod("nobody", "a", {"app"}), "gtoken"));
    CHECK(idx.missing("jobs", "a") == Names{"p1", "p2"});
    CHECK(idx.size() == 3);
  }
}
