// kube/finalizers: the test + remove never removes another finalizer, the
// add carries the resourceVersion it was decided on.
#include <doctest/doctest.h>

#include "kube/finalizers.hpp"

using nlohmann::json;

namespace {

json object(const json& finalizers) {
  json o = {{"metadata", {{"name", "b"}, {"resourceVersion", "7"}}}};
  if (!finalizers.is_null()) o["metadata"]["finalizers"] = finalizers;
  return o;
}

}  // namespace

TEST_CASE("has_finalizer looks at metadata.finalizers only") {
  CHECK(kube::has_finalizer(object({"a", "gtoken.io/cleanup"}), "gtoken.io/cleanup"));
  CHECK_FALSE(kube::has_finalizer(object({"a"}), "gtoken.io/cleanup"));
  CHECK_FALSE(kube::has_finalizer(object(nullptr), "gtoken.io/cleanup"));
  CHECK_FALSE(kube::has_finalizer(json::object(), "gtoken.io/cleanup"));
  CHECK_FALSE(kube::has_finalizer(object("gtoken.io/cleanup"), "gtoken.io/cleanup"));
}

TEST_CASE("add_finalizer_patch appends to the list as read, guarded by its resourceVersion") {
  CHECK(kube::add_finalizer_patch(object(nullptr), "f") ==
        json{{"metadata", {{"resourceVersion", "7"}, {"finalizers", {"f"}}}}});
  CHECK(kube::add_finalizer_patch(object({"other"}), "f") ==
        json{{"metadata", {{"resourceVersion", "7"}, {"finalizers", {"other", "f"}}}}});
}

TEST_CASE("remove_finalizer_patch tests the value at the index before removing it") {
  CHECK_FALSE(kube::remove_finalizer_patch(object({"other"}), "f").has_value());
  CHECK_FALSE(kube::remove_finalizer_patch(object(nullptr), "f").has_value());
  auto p = kube::remove_finalizer_patch(object({"other", "f"}), "f");
  REQUIRE(p.has_value());
  CHECK(*p == json::array({{{"op", "test"}, {"path", "/metadata/finalizers/1"}, {"value", "f"}},
                           {{"op", "remove"}, {"path", "/metadata/finalizers/1"}}}));
  // Listed twice (a hand edit): the last one, as the reconciler always did.
  auto twice = kube::remove_finalizer_patch(object({"f", "x", "f"}), "f");
  REQUIRE(twice.has_value());
  CHECK((*twice)[0]["path"] == "/metadata/finalizers/2");
}
