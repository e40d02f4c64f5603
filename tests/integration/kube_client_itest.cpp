// The kube client against a real kube-apiserver: what the controller and
// the webhook rely on, checked on the wire.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "kube/errors.hpp"
#include "tests/integration/support.hpp"

using kube::json;
namespace res = kube::resources;

namespace {

json config_map(const std::string& name, json data = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", std::move(data)}};
}

}  // namespace

TEST_CASE("ConfigMap CRUD, list paging and selectors") {
  auto c = itest::admin_client();
  std::string ns = itest::make_namespace(*c, "crud");

  json created = c->create(res::config_maps(), ns, config_map("a", {{"k", "v1"}}));
  CHECK(created["metadata"]["name"] == "a");
  CHECK(c->get(res::config_maps(), ns, "a")["data"]["k"] == "v1");

  created["data"]["k"] = "v2";
  json updated = c->update(res::config_maps(), ns, created);
  CHECK(updated["data"]["k"] == "v2");
  CHECK(updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]);

  for (int i = 0; i < 7; ++i) {
    json cm = config_map("page-" + std::to_string(i));
    cm["metadata"]["labels"] = {{"parity", i % 2 ? "odd" : "even"}};
    c->create(res::config_maps(), ns, cm);
  }
  kube::ListOptions page;
  page.limit = 3;
  json first = c->list(res::config_maps(), ns, page);
  CHECK(first["items"].size() == 3);
  CHECK_FALSE(first["metadata"].value("continue", "").empty());
  json all = c->list_all(res::config_maps(), ns, page);
  CHECK(all["items"].size() == 8);
  CHECK_FALSE(all["metadata"].value("resourceVersion", "").empty());

  kube::ListOptions odd;
  odd.label_selector = "parity=odd";
  CHECK(c->list_all(res::config_maps(), ns, odd)["items"].size() == 3);
  kube::ListOptions by_name;
  by_name.field_selector = "metadata.name=page-4";
  CHECK(c->list_all(res::config_maps(), ns, by_name)["items"].size() == 1);

  c->remove(res::config_maps(), ns, "a");
  try {
    c->get(res::config_maps(), ns, "a");
    FAIL("get after delete must throw");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_not_found());
    CHECK(e.reason() == "NotFound");
  }
  c->remove(res::namespaces(), "", ns);
}

TEST_CASE("typed errors: 409 on stale resourceVersion and on create of an existing name") {
  auto c = itest::admin_client();
  std::string ns = itest::make_namespace(*c, "conflict");
  json v1 = c->create(res::config_maps(), ns, config_map("x", {{"n", "1"}}));
  json fresh = v1;
  fresh["data"]["n"] = "2";
  c->update(res::config_maps(), ns, fresh);

  json stale = v1;
  stale["data"]["n"] = "3";
  try {
    c->update(res::config_maps(), ns, stale);
    FAIL("stale update must fail");
  } catch (const kube::ApiError& e) {
    CHECK(e.code() == 409);
    CHECK(e.is_conflict());
    CHECK(e.reason() == "Conflict");
  }
  try {
    c->create(res::config_maps(), ns, config_map("x"));
    FAIL("duplicate create must fail");
  } catch (const kube::ApiError& e) {
    CHECK(e.code() == 409);
    CHECK(e.reason() == "AlreadyExists");
  }
  // 422: schema validation by the apiserver itself.
  try {
    c->create(res::config_maps(), ns, config_map("Not_A_Valid_Name"));
    FAIL("invalid name must fail");
  } catch (const kube::ApiError& e) {
    CHECK(e.is_invalid());
    CHECK(e.status().message.find("Not_A_Valid_Name") != std::string::npos);
  }
  // Delete with a resourceVersion precondition that no longer holds.
  kube::DeleteOptions pre;
  pre.precondition_resource_version = v1["metadata"]["resourceVersion"].get<std::string>();
  CHECK_THROWS_AS(c->remove(res::config_maps(), ns, "x", pre), kube::ApiError);
  CHECK(c->get(res::config_maps(), ns, "x")["data"]["n"] == "2");
  c->remove(res::namespaces(), "", ns);
}

TEST_CASE("server-side apply keeps another field manager's annotations") {
  auto c = itest::admin_client();
  std::string ns = itest::make_namespace(*c, "ssa");
  json sa = {{"apiVersion", "v1"},
             {"kind", "ServiceAccount"},
             {"metadata", {{"name", "app"}, {"annotations", {{"team", "data"}}}}}};
  c->create(res::service_accounts(), ns, sa);

  json mine = {{"apiVersion", "v1"},
               {"kind", "ServiceAccount"},
               {"metadata",
                {{"name", "app"},
                 {"annotations", {{"amazonaws.com/role-arn", "arn:aws:iam::1:role/r"}}}}}};
  json applied = c->apply(res::service_accounts(), ns, mine, true, "", "gtoken");
  CHECK(applied["metadata"]["annotations"]["team"] == "data");
  CHECK(applied["metadata"]["annotations"]["amazonaws.com/role-arn"] == "arn:aws:iam::1:role/r");

  // Applying without the annotation removes only what this manager owned.
  json none = mine;
  none["metadata"].erase("annotations");
  json after = c->apply(res::service_accounts(), ns, none, true, "", "gtoken");
  CHECK(after["metadata"]["annotations"]["team"] == "data");
  CHECK_FALSE(after["metadata"]["annotations"].contains("amazonaws.com/role-arn"));
  c->remove(res::namespaces(), "", ns);
}

TEST_CASE("JSON patch test+remove and merge patch") {
  auto c = itest::admin_client();
  std::string ns = itest::make_namespace(*c, "patch");
  json cm = config_map("f");
  cm["metadata"]["finalizers"] = {"example.com/other", "gtoken.io/cleanup"};
  c->create(res::config_maps(), ns, cm);

  // A failed `test` rejects the whole patch (422), so another writer's
  // finalizer at index 1 is never removed by mistake.
  json wrong = json::array({{{"op", "test"}, {"path", "/metadata/finalizers/1"}, {"value", "x"}},
                            {{"op", "remove"}, {"path", "/metadata/finalizers/1"}}});
  try {
    c->patch(res::config_maps(), ns, "f", kube::PatchType::Json, wrong);
    FAIL("failed test op must reject the patch");
  } catch (const kube::ApiError& e) {
    CHECK(e.code() == 422);
  }
  json right = json::array(
      {{{"op", "test"}, {"path", "/metadata/finalizers/1"}, {"value", "gtoken.io/cleanup"}},
       {{"op", "remove"}, {"path", "/metadata/finalizers/1"}}});
  json out = c->patch(res::config_maps(), ns, "f", kube::PatchType::Json, right);
  CHECK(out["metadata"]["finalizers"] == json::array({"example.com/other"}));

  json merged = c->patch(res::config_maps(), ns, "f", kube::PatchType::Merge,
                         {{"metadata", {{"finalizers", nullptr}}}, {"data", {{"m", "1"}}}});
  CHECK(merged["data"]["m"] == "1");
  CHECK_FALSE(merged["metadata"].contains("finalizers"));
  c->remove(res::namespaces(), "", ns);
}

TEST_CASE("status subresource") {
  auto c = itest::admin_client();
  std::string ns = itest::make_namespace(*c, "status");
  json got = c->get(res::namespaces(), "", ns, "status");
  CHECK(got["status"]["phase"] == "Active");
  json applied = c->apply(res::namespaces(), "",
                          {{"apiVersion", "v1"},
                           {"kind", "Namespace"},
                           {"metadata", {{"name", ns}}},
                           {"status",
                            {{"conditions",
                              json::array({{{"type", "GtokenTest"},
                                            {"status", "True"},
                                            {"reason", "Tested"},
                                            {"message", "set through /status"}}})}}}},
                          true, "status", "gtoken-status");
  bool found = false;
  for (auto& cond : applied["status"]["conditions"]) found |= cond["type"] == "GtokenTest";
  CHECK(found);
  c->remove(res::namespaces(), "", ns);
}

TEST_CASE("watch delivers ADDED, MODIFIED, DELETED in order, and a server timeout ends it") {
  auto c = itest::admin_client();
  std::string ns = itest::make_namespace(*c, "watch");
  json list = c->list(res::config_maps(), ns);
  kube::WatchOptions wo;
  wo.resource_version = list["metadata"]["resourceVersion"];
  wo.timeout_seconds = 20;

  std::vector<std::string> seen;
  std::mutex mu;
  kube::CancelToken cancel;
  std::thread watcher([&] {
    c->watch(res::config_maps(), ns, wo, [&](const kube::WatchEvent& ev) {
      if (ev.type == "BOOKMARK") return true;
      std::lock_guard lock(mu);
      seen.push_back(ev.type + ":" + ev.object["metadata"]["name"].get<std::string>());
      return true;
    }, &cancel);
  });
  json cm = c->create(res::config_maps(), ns, config_map("w1"));
  cm["data"] = {{"a", "b"}};
  c->update(res::config_maps(), ns, cm);
  c->remove(res::config_maps(), ns, "w1");
  c->create(res::config_maps(), ns, config_map("w2"));
  CHECK(itest::eventually([&] {
    std::lock_guard lock(mu);
    return seen.size() >= 4;
  }));
  cancel.cancel();
  watcher.join();
  CHECK(seen == std::vector<std::string>{"ADDED:w1", "MODIFIED:w1", "DELETED:w1", "ADDED:w2"});

  // The server ends the watch by itself after timeoutSeconds.
  wo.timeout_seconds = 1;
  auto start = std::chrono::steady_clock::now();
  c->watch(res::config_maps(), ns, wo, [](const kube::WatchEvent&) { return true; });
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(15));
  c->remove(res::namespaces(), "", ns);
}

TEST_CASE("keep-alive: sequential requests reuse one connection; concurrent ones are safe") {
  auto c = itest::admin_client();
  for (int i = 0; i < 20; ++i) c->list(res::namespaces(), "");
  CHECK(c->http().connections_opened() == 1);

  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        c->get(res::namespaces(), "", "default");
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 80);
  CHECK(c->http().connections_opened() <= 9);
}

TEST_CASE("TLS: a server certificate from another CA is refused") {
  auto cfg = kube::load_default_config();
  // A self-signed CA that did not sign the apiserver's certificate.
  std::string dir = itest::binary_dir() + "/other-ca";
  REQUIRE(itest::run("mkdir -p " + dir + " && cd " + dir +
                     " && openssl ecparam -name prime256v1 -genkey -noout -out k 2>/dev/null"
                     " && openssl req -x509 -new -key k -days 1 -subj /CN=other -out c 2>/dev/null") == 0);
  std::string other;
  itest::run("cat " + dir + "/c", &other);
  cfg.tls.ca_pem = other;
  kube::HttpClient http(kube::http_options(cfg));
  kube::HttpRequest req;
  req.target = "/version";
  try {
    http.request(req);
    FAIL("must not trust a certificate from an unknown CA");
  } catch (const kube::NetworkError& e) {
    CHECK(std::string(e.what()).find("certificate verify failed") != std::string::npos);
  }
  // The right CA but a host name not in the certificate's SANs.
  auto good = kube::load_default_config();
  good.tls.server_name = "not-the-apiserver.example";
  kube::HttpClient wrong_name(kube::http_options(good));
  CHECK_THROWS_AS(wrong_name.request(req), kube::NetworkError);
}

TEST_CASE("network errors are typed and distinct from API errors") {
  kube::HttpOptions o;
  o.base_url = "https://127.0.0.1:1";  // nothing listens on port 1
  o.connect_timeout = std::chrono::milliseconds(500);
  auto http = std::make_shared<kube::HttpClient>(o);
  kube::Client c(http);
  CHECK_THROWS_AS(c.get(res::namespaces(), "", "default"), kube::NetworkError);
}
