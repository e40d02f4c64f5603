#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kube/store.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using kube::Store;
using kube::StoreChange;

namespace {

json obj(const std::string& ns, const std::string& name, const std::string& rv = "1",
         json data = json::object()) {
  json m = {{"name", name}, {"resourceVersion", rv}};
  if (!ns.empty()) m["namespace"] = ns;
  return json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", m}, {"data", data}};
}

struct Recorder {
  std::vector<std::string> log;
  std::vector<StoreChange> changes;
  void attach(Store& s) {
    s.subscribe([this](const StoreChange& c) {
      const char* t = c.type == StoreChange::Type::Added     ? "add"
                      : c.type == StoreChange::Type::Updated ? "update"
                                                             : "delete";
      log.push_back(std::string(t) + " " + c.key);
      changes.push_back(c);
    });
  }
};

std::vector<std::string> names(const std::vector<kube::ObjectPtr>& v) {
  std::vector<std::string> out;
  for (const auto& o : v) out.push_back((*o)["metadata"]["name"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("object_key is namespace/name, or name when cluster-scoped") {
  CHECK(kube::object_key(obj("ns1", "a")) == "ns1/a");
  CHECK(kube::object_key(obj("", "node-1")) == "node-1");
  CHECK(kube::object_key(json::object()) == "");
  CHECK(kube::object_key(json{{"metadata", {{"name", 5}}}}) == "");
  CHECK(kube::object_key(json::array()) == "");
}

TEST_CASE("apply adds, then updates; unchanged objects notify nothing") {
  Store s;
  Recorder r;
  r.attach(s);
  s.apply(obj("ns", "a", "1"));
  s.apply(obj("ns", "a", "2"));
  s.apply(obj("ns", "a", "2"));  // same content
  CHECK(r.log == std::vector<std::string>{"add ns/a", "update ns/a"});
  REQUIRE(r.changes.size() == 2);
  CHECK(r.changes[0].old_object == nullptr);
  CHECK((*r.changes[1].old_object)["metadata"]["resourceVersion"] == "1");
  CHECK((*r.changes[1].object)["metadata"]["resourceVersion"] == "2");
  CHECK(s.size() == 1);
  CHECK((*s.get("ns/a"))["metadata"]["resourceVersion"] == "2");
  CHECK((*s.get("ns", "a"))["metadata"]["resourceVersion"] == "2");
}

TEST_CASE("objects without a name are ignored") {
  Store s;
  s.apply(json{{"metadata", json::object()}});
  s.remove(json::object());
  s.relist_add(json{{"kind", "x"}});
  CHECK(s.size() == 0);
}

TEST_CASE("remove deletes with the final state; unknown keys are ignored") {
  Store s;
  Recorder r;
  s.apply(obj("ns", "a", "1"));
  r.attach(s);
  s.remove(obj("ns", "a", "7"));
  s.remove(obj("ns", "zzz"));
  CHECK(r.log == std::vector<std::string>{"delete ns/a"});
  CHECK((*r.changes[0].object)["metadata"]["resourceVersion"] == "7");
  CHECK((*r.changes[0].old_object)["metadata"]["resourceVersion"] == "1");
  CHECK_FALSE(r.changes[0].final_state_unknown);
  CHECK(s.get("ns/a") == nullptr);
  CHECK(s.size() == 0);
}

TEST_CASE("list is ordered by key; list(ns) uses the namespace index") {
  Store s;
  s.apply(obj("b", "y"));
  s.apply(obj("a", "z"));
  s.apply(obj("b", "x"));
  s.apply(obj("", "cluster-wide"));
  CHECK(s.keys() == std::vector<std::string>{"a/z", "b/x", "b/y", "cluster-wide"});
  CHECK(names(s.list("b")) == std::vector<std::string>{"x", "y"});
  CHECK(names(s.list("a")) == std::vector<std::string>{"z"});
  CHECK(names(s.list("")) == std::vector<std::string>{"cluster-wide"});
  CHECK(s.list("none").empty());
  s.remove(obj("b", "x"));
  s.remove(obj("b", "y"));
  CHECK(s.list("b").empty());
  CHECK(s.size() == 2);
}

TEST_CASE("synced only after the first complete relist") {
  Store s;
  CHECK_FALSE(s.synced());
  CHECK_FALSE(s.wait_synced(1ms));
  s.apply(obj("ns", "a"));  // a watch event alone is not a full list
  CHECK_FALSE(s.synced());
  s.begin_relist();
  s.relist_add(obj("ns", "a"));
  s.relist_add(obj("ns", "b"));
  CHECK_FALSE(s.synced());
  s.end_relist();
  CHECK(s.synced());
  CHECK(s.wait_synced(0ms));
}

TEST_CASE("a relist is invisible to readers until end_relist, then swapped at once") {
  Store s;
  s.replace({obj("ns", "old1"), obj("ns", "old2")});
  s.begin_relist();
  s.relist_add(obj("ns", "new1"));
  CHECK(s.keys() == std::vector<std::string>{"ns/old1", "ns/old2"});
  s.relist_add(obj("ns", "old2"));
  s.end_relist();
  CHECK(s.keys() == std::vector<std::string>{"ns/new1", "ns/old2"});
}

TEST_CASE("replace emits adds, real updates and synthetic deletes") {
  Store s;
  s.replace({obj("ns", "keep", "1"), obj("ns", "change", "1"), obj("ns", "gone", "1")});
  Recorder r;
  r.attach(s);
  auto keep_before = s.get("ns/keep");
  s.replace({obj("ns", "keep", "1"), obj("ns", "change", "2"), obj("ns", "new", "1")});
  CHECK(r.log == std::vector<std::string>{"update ns/change", "delete ns/gone", "add ns/new"});
  const auto& del = r.changes[1];
  CHECK(del.final_state_unknown);
  CHECK((*del.object)["metadata"]["name"] == "gone");
  // Unchanged objects keep their pointer: one copy in memory.
  CHECK(s.get("ns/keep") == keep_before);
  CHECK(s.size() == 3);
}

TEST_CASE("the first relist notifies every object as added") {
  Store s;
  Recorder r;
  r.attach(s);
  s.replace({obj("b", "2"), obj("a", "1")});
  CHECK(r.log == std::vector<std::string>{"add a/1", "add b/2"});
}

TEST_CASE("begin_relist discards an unfinished earlier relist") {
  Store s;
  s.begin_relist();
  s.relist_add(obj("ns", "from-aborted-list"));
  s.begin_relist();
  s.relist_add(obj("ns", "a"));
  s.end_relist();
  CHECK(s.keys() == std::vector<std::string>{"ns/a"});
}

TEST_CASE("replace with nothing empties the store and still counts as synced") {
  Store s;
  s.apply(obj("ns", "a"));
  s.replace({});
  CHECK(s.size() == 0);
  CHECK(s.synced());
  CHECK(s.list("ns").empty());
}

TEST_CASE("a transform strips objects before they are stored and notified") {
  Store s(kube::keep_metadata_only);
  Recorder r;
  r.attach(s);
  json sa = obj("ns", "sa", "1", {{"big", std::string(1000, 'x')}});
  sa["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"}}});
  sa["metadata"]["annotations"] = {{"amazonaws.com/role-arn", "arn:aws:iam::1:role/x"}};
  s.apply(sa);
  auto got = s.get("ns/sa");
  REQUIRE(got);
  CHECK_FALSE(got->contains("data"));
  CHECK_FALSE((*got)["metadata"].contains("managedFields"));
  CHECK((*got)["metadata"]["annotations"]["amazonaws.com/role-arn"] == "arn:aws:iam::1:role/x");
  CHECK((*got)["kind"] == "ConfigMap");
  CHECK_FALSE(r.changes[0].object->contains("data"));

  // A change only to stripped fields is no change at all.
  sa["data"]["big"] = "y";
  s.apply(sa);
  CHECK(r.changes.size() == 1);
}

TEST_CASE("strip_managed_fields keeps everything else") {
  json o = obj("ns", "a");
  o["metadata"]["managedFields"] = json::array();
  json out = kube::strip_managed_fields(o);
  CHECK_FALSE(out["metadata"].contains("managedFields"));
  CHECK(out["data"] == json::object());
  CHECK(kube::strip_managed_fields(json(3)) == json(3));
}

TEST_CASE("handlers may read the store and see the change already applied") {
  Store s;
  std::vector<size_t> sizes;
  std::vector<bool> present;
  s.subscribe([&](const StoreChange& c) {
    sizes.push_back(s.size());
    present.push_back(s.get(c.key) != nullptr);
  });
  s.apply(obj("ns", "a"));
  s.replace({obj("ns", "b")});
  CHECK(sizes == std::vector<size_t>{1, 1, 1});
  CHECK(present == std::vector<bool>{true, false, true});  // add a; delete a; add b
}

TEST_CASE("readers keep their snapshot while the writer replaces it") {
  Store s;
  s.apply(obj("ns", "a", "1"));
  auto snapshot = s.get("ns/a");
  s.apply(obj("ns", "a", "2"));
  s.remove(obj("ns", "a"));
  CHECK((*snapshot)["metadata"]["resourceVersion"] == "1");
}

TEST_CASE("concurrent readers and one writer") {
  Store s;
  std::atomic<bool> done{false};
  std::atomic<long> reads{0};
  std::atomic<long> nulls{0};
  std::vector<std::jthread> readers;
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!done) {
        for (const auto& o : s.list()) {
          if (!o || o->is_null()) ++nulls;
        }
        (void)s.get("ns/k5");
        (void)s.list("ns");
        (void)s.size();
        ++reads;
      }
    });
  }
  // On a loaded machine the writer could finish before any reader ran.
  while (reads.load() == 0) std::this_thread::yield();
  for (int round = 0; round < 200; ++round) {
    s.apply(obj("ns", "k" + std::to_string(round % 10), std::to_string(round)));
    if (round % 7 == 0) s.remove(obj("ns", "k" + std::to_string(round % 10)));
    if (round % 50 == 0) s.replace({obj("ns", "k1"), obj("ns", "k2")});
  }
  done = true;
  readers.clear();
  CHECK(reads.load() > 0);
  CHECK(nulls.load() == 0);
  CHECK(s.size() <= 10);
}

TEST_CASE("wait_synced wakes when another thread completes the list") {
  Store s;
  std::jthread t([&] {
    std::this_thread::sleep_for(10ms);
    s.replace({obj("ns", "a")});
  });
  CHECK(s.wait_synced(30s));
}
