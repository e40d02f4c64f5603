// BindingIndex: which bindings refer to a ServiceAccount, by spec and by
// status.appliedTargets, kept in step with adds, updates and deletes.
#include <doctest/doctest.h>

#include "operator/binding_index.hpp"

using json = nlohmann::json;
using Names = std::vector<std::string>;

namespace {

json binding(const std::string& ns, const std::string& name, const std::string& ksa,
             std::vector<std::string> applied = {}) {
  json b = {{"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", "1"}}},
            {"spec", {{"serviceAccountName", ksa}}}};
  if (!applied.empty()) {
    b["status"]["appliedTargets"] = json::array();
    for (const auto& a : applied) b["status"]["appliedTargets"].push_back({{"serviceAccountName", a}});
  }
  return b;
}

}  // namespace

TEST_CASE("bindings are found by the ServiceAccount their spec names, per namespace") {
  gtoken::BindingIndex idx;
  idx.update(binding("a", "b1", "ksa"));
  idx.update(binding("a", "b2", "ksa"));
  idx.update(binding("a", "b3", "other"));
  idx.update(binding("z", "b4", "ksa"));
  CHECK(idx.names("a", "ksa") == Names{"b1", "b2"});
  CHECK(idx.names("a", "other") == Names{"b3"});
  CHECK(idx.names("z", "ksa") == Names{"b4"});
  CHECK(idx.names("a", "none").empty());
  CHECK(idx.size() == 4);
}

TEST_CASE("a moved binding stays findable under the old ServiceAccount while it is recorded") {
  gtoken::BindingIndex idx;
  idx.update(binding("a", "b1", "old", {"old"}));
  idx.update(binding("a", "b1", "new", {"old", "new"}));  // spec moved, cleanup pending
  CHECK(idx.names("a", "old") == Names{"b1"});
  CHECK(idx.names("a", "new") == Names{"b1"});
  idx.update(binding("a", "b1", "new", {"new"}));  // cleanup done
  CHECK(idx.names("a", "old").empty());
  CHECK(idx.names("a", "new") == Names{"b1"});
}

TEST_CASE("remove forgets a binding; removing twice or an unknown one is harmless") {
  gtoken::BindingIndex idx;
  idx.update(binding("a", "b1", "ksa"));
  idx.remove(binding("a", "b1", "whatever"));
  CHECK(idx.names("a", "ksa").empty());
  CHECK(idx.size() == 0);
  idx.remove(binding("a", "b1", "ksa"));
  idx.remove(binding("a", "nobody", "ksa"));
  CHECK(idx.size() == 0);
}

TEST_CASE("bindings() returns the cached objects, skipping ones no longer in the store") {
  gtoken::BindingIndex idx;
  kube::Store store;
  json b1 = binding("a", "b1", "ksa");
  json b2 = binding("a", "b2", "ksa");
  store.apply(b1);
  idx.update(b1);
  idx.update(b2);  // not in the store
  auto got = idx.bindings(store, "a", "ksa");
  REQUIRE(got.size() == 1);
  CHECK((*got[0])["metadata"]["name"] == "b1");
}

TEST_CASE("objects without spec or with odd status are indexed by what they have") {
  gtoken::BindingIndex idx;
  idx.update(json{{"metadata", {{"namespace", "a"}, {"name", "x"}}}});
  json odd = binding("a", "y", "ksa");
  odd["status"] = {{"appliedTargets", "not-a-list"}};
  idx.update(odd);
  CHECK(idx.names("a", "ksa") == Names{"y"});
  CHECK(idx.size() == 2);
}
