// The controller runtime against real kube-apiservers that are killed,
// restarted and compacted under it: the store must end up holding exactly
// the server's objects, with no event lost.
#include <doctest/doctest.h>

#include <mutex>
#include <set>
#include <thread>

#include "kube/errors.hpp"
#include "kube/watcher.hpp"
#include "tests/integration/support.hpp"

using kube::json;
namespace res = kube::resources;

namespace {

json config_map(const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", {{"v", value}}}};
}

// name -> data.v, from the server or from the store.
std::map<std::string, std::string> server_state(kube::Client& c, const std::string& ns) {
  std::map<std::string, std::string> out;
  json list = c.list_all(res::config_maps(), ns);  // outlives the loop below
  for (const auto& item : list["items"]) {
    if (item.contains("data") && item["data"].contains("v")) {
      out[item["metadata"]["name"]] = item["data"]["v"];
    }
  }
  return out;
}

std::map<std::string, std::string> store_state(const kube::Store& s) {
  std::map<std::string, std::string> out;
  for (const auto& obj : s.list()) {
    if ((*obj).contains("data") && (*obj)["data"].contains("v")) {
      out[(*obj)["metadata"]["name"]] = (*obj)["data"]["v"];
    }
  }
  return out;
}

struct Recorder {
  std::mutex mu;
  std::vector<std::string> logs;  // the informer's log lines
  kube::Logger logger{kube::LogLevel::debug, [this](std::string_view l) {
                        std::lock_guard lock(mu);
                        logs.emplace_back(l);
                      }};
  std::vector<std::string> events;  // "add:x" / "update:x=v" / "delete:x"
  bool saw(const std::string& needle) {
    std::lock_guard lock(mu);
    for (const auto& l : logs) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

std::unique_ptr<kube::Informer> make_informer(std::shared_ptr<kube::Client> c, const std::string& ns,
                                              Recorder& rec) {
  kube::InformerOptions o;
  o.watcher.watch_timeout = std::chrono::seconds(30);
  o.watcher.backoff.base = std::chrono::milliseconds(100);
  o.watcher.backoff.cap = std::chrono::seconds(1);
  o.watcher.log = &rec.logger;
  auto inf = std::make_unique<kube::Informer>(
      std::make_shared<kube::ClientListWatch>(c, res::config_maps(), ns), o);
  inf->on_add([&rec](const json& o) {
    std::lock_guard lock(rec.mu);
    rec.events.push_back("add:" + o["metadata"]["name"].get<std::string>());
  });
  inf->on_delete([&rec](const json& o) {
    std::lock_guard lock(rec.mu);
    rec.events.push_back("delete:" + o["metadata"]["name"].get<std::string>());
  });
  return inf;
}

}  // namespace

TEST_CASE("informer: kill and restart kube-apiserver during a watch, writes in between") {
  // Two apiservers on one etcd: the informer talks to #0, which is killed;
  // the writes go through #1 meanwhile.
  itest::ControlPlane cp("restart", 2, /*watch_cache=*/false);
  auto watched = itest::admin_client(cp.kubeconfig(0));
  auto writer = itest::admin_client(cp.kubeconfig(1));
  std::string ns = itest::make_namespace(*writer, "restart");
  for (int i = 0; i < 20; ++i) {
    writer->create(res::config_maps(), ns, config_map("before-" + std::to_string(i), "1"));
  }
  Recorder rec;
  auto inf = make_informer(watched, ns, rec);
  inf->start();
  REQUIRE(inf->wait_synced(std::chrono::seconds(30)));
  CHECK(inf->store().size() == 20);

  cp.kill_apiserver(0);
  for (int i = 0; i < 10; ++i) {
    writer->create(res::config_maps(), ns, config_map("during-" + std::to_string(i), "1"));
  }
  for (int i = 0; i < 5; ++i) writer->remove(res::config_maps(), ns, "before-" + std::to_string(i));
  for (int i = 5; i < 10; ++i) {
    json cm = writer->get(res::config_maps(), ns, "before-" + std::to_string(i));
    cm["data"]["v"] = "2";
    writer->update(res::config_maps(), ns, cm);
  }
  cp.start_apiserver(0);
  // Written after the restart, through the restarted server.
  watched->create(res::config_maps(), ns, config_map("after", "1"));

  auto want = server_state(*writer, ns);
  CHECK(want.size() == 26);
  CHECK(itest::eventually([&] { return store_state(inf->store()) == want; },
                          std::chrono::seconds(60)));
  {
    // Without a watch cache the watch resumes from etcd history: every
    // deletion made while the server was down is seen as a DELETED event.
    std::lock_guard lock(rec.mu);
    std::set<std::string> deleted;
    for (const auto& e : rec.events) {
      if (e.rfind("delete:", 0) == 0) deleted.insert(e.substr(7));
    }
    CHECK(deleted.size() == 5);
  }
  inf->stop();
}

TEST_CASE("informer: etcd compaction past the watcher's version forces a 410 and a relist") {
  itest::ControlPlane cp("compact", 2, /*watch_cache=*/false);
  auto watched = itest::admin_client(cp.kubeconfig(0));
  auto writer = itest::admin_client(cp.kubeconfig(1));
  std::string ns = itest::make_namespace(*writer, "gone");
  for (int i = 0; i < 10; ++i) {
    writer->create(res::config_maps(), ns, config_map("cm-" + std::to_string(i), "1"));
  }
  Recorder rec;
  auto inf = make_informer(watched, ns, rec);
  inf->start();
  REQUIRE(inf->wait_synced(std::chrono::seconds(30)));

  cp.kill_apiserver(0);
  for (int i = 0; i < 4; ++i) writer->remove(res::config_maps(), ns, "cm-" + std::to_string(i));
  for (int i = 0; i < 4; ++i) {
    writer->create(res::config_maps(), ns, config_map("new-" + std::to_string(i), "1"));
  }
  // Compact etcd past everything the informer has seen, then let it back.
  cp.compact();
  cp.start_apiserver(0);

  auto want = server_state(*writer, ns);
  CHECK(want.size() == 10);
  CHECK(itest::eventually([&] { return store_state(inf->store()) == want; },
                          std::chrono::seconds(60)));
  CHECK(rec.saw("relisting"));
  inf->stop();
}

TEST_CASE("informer: follows a burst of writes exactly") {
  auto c = itest::admin_client();
  std::string ns = itest::make_namespace(*c, "burst");
  Recorder rec;
  auto inf = make_informer(c, ns, rec);
  inf->start();
  REQUIRE(inf->wait_synced(std::chrono::seconds(30)));
  for (int i = 0; i < 50; ++i) c->create(res::config_maps(), ns, config_map("b" + std::to_string(i), "0"));
  for (int round = 1; round <= 3; ++round) {
    for (int i = 0; i < 50; i += 2) {
      c->patch(res::config_maps(), ns, "b" + std::to_string(i), kube::PatchType::Merge,
               {{"data", {{"v", std::to_string(round)}}}});
    }
  }
  for (int i = 1; i < 50; i += 5) c->remove(res::config_maps(), ns, "b" + std::to_string(i));
  auto want = server_state(*c, ns);
  bool same = itest::eventually([&] { return store_state(inf->store()) == want; });
  if (!same) {
    std::string diff;
    auto have = store_state(inf->store());
    for (const auto& [k, v] : want) {
      if (!have.count(k) || have[k] != v) diff += k + "=" + v + " store:" + (have.count(k) ? have[k] : "-") + "; ";
    }
    for (const auto& [k, v] : have) {
      if (!want.count(k)) diff += k + " only in store; ";
    }
    std::lock_guard lock(rec.mu);
    for (const auto& l : rec.logs) diff += "\nlog: " + l;
    FAIL_CHECK(diff);
  }
  inf->stop();
  c->remove(res::namespaces(), "", ns);
}
