// kube::HttpClient behaviour on the wire (loopback listeners): which
// requests are re-sent on a stale pooled connection, the response body cap,
// the token re-read on 401, the CA file reload, and UTF-8-safe texts.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "kube/client.hpp"
#include "kube/config.hpp"
#include "kube/errors.hpp"
#include "kube/http.hpp"
#include "kube/utf8.hpp"
#include "tests/unit/kube_loopback.hpp"
#include "tests/unit/kube_tls_test_certs.hpp"

namespace fs = std::filesystem;

namespace {

kube::HttpRequest req(std::string method, std::string target, std::string body = "") {
  kube::HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  return r;
}

loopback::Answer ok() {
  return loopback::Answer{};
}
loopback::Answer drop() {
  loopback::Answer a;
  a.drop = true;
  return a;
}
loopback::Answer answer(std::string bytes, bool close_after = false) {
  loopback::Answer a;
  a.bytes = std::move(bytes);
  a.close_after = close_after;
  return a;
}

kube::HttpOptions options(const std::string& url) {
  kube::HttpOptions o;
  o.base_url = url;
  o.request_timeout = std::chrono::seconds(5);
  return o;
}

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/gtoken-http-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary | std::ios::trunc) << text;
    return path / name;
  }
};

bool valid_utf8(const std::string& s) {
  return kube::utf8_sanitize(s) == s;
}

}  // namespace

TEST_CASE("a request dropped on a reused connection is re-sent only for GET, HEAD, PUT, DELETE") {
  for (std::string method : {"GET", "HEAD", "PUT", "DELETE", "POST", "PATCH"}) {
    CAPTURE(method);
    // Request 0 is answered and its connection pooled; request 1 (on that
    // connection) is read and then dropped without an answer.
    loopback::Server server(
        [](const loopback::Request&, size_t i) { return i == 1 ? drop() : ok(); });
    kube::HttpClient http(options(server.url()));
    CHECK(http.request(req("GET", "/first")).status == 200);
    bool idempotent = method != "POST" && method != "PATCH";
    if (idempotent) {
      CHECK(http.request(req(method, "/second", method == "PUT" ? "{}" : "")).status == 200);
      CHECK(server.request_count() == 3);  // sent again on a fresh connection
      CHECK(server.connections() == 2);
    } else {
      CHECK_THROWS_AS(http.request(req(method, "/second", "{}")), kube::NetworkError);
      CHECK(server.request_count() == 2);  // never twice: the server may have acted on it
    }
  }
}

TEST_CASE("a pooled connection the server closed while idle is not used, even for POST") {
  loopback::Server server([](const loopback::Request&, size_t i) {
    // Closes after the first answer without saying so (no Connection: close).
    return i == 0 ? answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true) : ok();
  });
  kube::HttpClient http(options(server.url()));
  CHECK(http.request(req("GET", "/a")).status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the FIN arrive
  CHECK(http.request(req("POST", "/b", "{}")).status == 200);
  CHECK(server.request_count() == 2);
  CHECK(server.connections() == 2);
}

TEST_CASE("response bodies are capped by HttpOptions::max_body_bytes (default 64 MiB)") {
  CHECK(kube::HttpOptions{}.max_body_bytes == size_t{64} << 20);
  loopback::Server server([](const loopback::Request& r, size_t) {
    size_t n = r.target == "/big" ? 2000 : 1000;
    return answer("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" +
                  std::string(n, 'x'));
  });
  auto o = options(server.url());
  o.max_body_bytes = 1000;
  kube::HttpClient http(o);
  CHECK(http.request(req("GET", "/fits")).body.size() == 1000);
  try {
    http.request(req("GET", "/big"));
    FAIL("must throw");
  } catch (const kube::NetworkError& e) {
    CHECK(std::string(e.what()) ==
          "GET /big: response body larger than 1000 bytes (HttpOptions::max_body_bytes)");
  }
}

TEST_CASE("a 401 re-reads the token file and retries once if the token changed") {
  TempDir dir;
  auto token_file = dir.write("token", "old\n");
  loopback::Server server([](const loopback::Request& r, size_t) {
    return r.header("Authorization") == "Bearer new"
               ? ok()
               : answer("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
  });
  kube::ClusterConfig c;
  c.server = server.url();
  c.token_file = token_file.string();
  kube::HttpClient http(kube::http_options(c));
  CHECK(http.request(req("POST", "/x", "{}")).status == 401);  // reads "old"; file unchanged
  CHECK(server.request_count() == 1);                          // so no retry

  dir.write("token", "new\n");  // rotated; the client still caches "old"
  CHECK(http.request(req("POST", "/x", "{}")).status == 200);
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 3);
  CHECK(reqs[1].header("Authorization") == "Bearer old");
  CHECK(reqs[2].header("Authorization") == "Bearer new");
  CHECK(http.request(req("GET", "/y")).status == 200);  // the new token is kept
  CHECK(server.request_count() == 4);
}

TEST_CASE("a token file holding CR/LF is refused without quoting the token") {
  TempDir dir;
  loopback::Server server;
  kube::ClusterConfig c;
  c.server = server.url();
  c.token_file = dir.write("token", "s3cret\r\nX-Injected: 1\n").string();
  kube::HttpClient http(kube::http_options(c));
  try {
    http.request(req("GET", "/"));
    FAIL("must throw");
  } catch (const kube::InvalidRequest& e) {
    CHECK(std::string(e.what()).find("s3cret") == std::string::npos);
  }
  CHECK(server.request_count() == 0);
}

TEST_CASE("the CA file is re-read when it changes; new connections use it") {
  auto server_cert = testtls::self_signed("server", 1);
  auto other_cert = testtls::self_signed("other", 2);
  testtls::Server server(server_cert);
  TempDir dir;
  auto ca = dir.write("ca.crt", other_cert.cert_pem);
  auto o = options(server.url());
  o.tls.ca_file = ca.string();
  o.ca_reload_interval = std::chrono::milliseconds(0);
  kube::HttpClient http(o);
  CHECK_THROWS_AS(http.request(req("GET", "/")), kube::NetworkError);  // not our CA

  dir.write("ca.crt", "-----BEGIN CERTIFICATE-----\nnot a cert\n");    // caught half-written
  CHECK_THROWS_AS(http.request(req("GET", "/")), kube::NetworkError);  // old context kept

  dir.write("ca.crt", server_cert.cert_pem + "\n");
  CHECK(http.request(req("GET", "/")).status == 200);
  CHECK(server.served() == 1);

  // With a long interval a change is not looked at.
  auto slow = o;
  slow.ca_reload_interval = std::chrono::hours(1);
  kube::HttpClient cached(slow);
  dir.write("ca.crt", other_cert.cert_pem);
  CHECK(cached.request(req("GET", "/")).status == 200);
}

TEST_CASE("kubeconfig certificate-authority and in-cluster ca.crt are watched files") {
  TempDir dir;
  auto cert = testtls::self_signed("x", 3);
  dir.write("ca.pem", cert.cert_pem);
  auto c = kube::parse_kubeconfig(
      "apiVersion: v1\nkind: Config\ncurrent-context: d\n"
      "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n"
      "    certificate-authority: ca.pem\n"
      "contexts:\n- name: d\n  context:\n    cluster: c\n",
      dir.path / "config");
  CHECK(c.tls.ca_file == (dir.path / "ca.pem").string());
  CHECK(c.tls.ca_pem == cert.cert_pem);

  dir.write("token", "t");
  dir.write("ca.crt", cert.cert_pem);
  auto in = kube::load_in_cluster({dir.path}, [](const char* k) -> const char* {
    return std::string(k) == "KUBERNETES_SERVICE_HOST" ? "10.0.0.1" : "443";
  });
  CHECK(in.tls.ca_file == (dir.path / "ca.crt").string());
}

TEST_CASE("utf8_truncate and utf8_sanitize") {
  CHECK(kube::utf8_truncate("abc", 5) == "abc");
  CHECK(kube::utf8_truncate("caf\xc3\xa9", 4) == "caf");  // never half of é
  CHECK(kube::utf8_truncate("caf\xc3\xa9", 5) == "caf\xc3\xa9");
  CHECK(kube::utf8_truncate("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 7) == "\xf0\x9f\x98\x80");
  CHECK(kube::utf8_sanitize("ok \xc3\xa9") == "ok \xc3\xa9");
  CHECK(kube::utf8_sanitize("a\xff"
                            "b") ==
        "a\xef\xbf\xbd"
        "b");
  CHECK(kube::utf8_sanitize("\xc0\xaf") == "\xef\xbf\xbd\xef\xbf\xbd");  // overlong
  CHECK(kube::utf8_sanitize("\xed\xa0\x80") ==
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");                         // surrogate
  CHECK(kube::utf8_sanitize("\xe2\x82") == "\xef\xbf\xbd\xef\xbf\xbd");  // cut
}

TEST_CASE("error texts are cut on a character boundary and ill-formed bytes replaced") {
  std::string body;
  for (int i = 0; i < 400; ++i) body += "\xc3\xa9";  // 800 bytes of é, cut at 512
  auto e = kube::error_from_response(502, body);
  CHECK(e.status().message.size() <= 512);
  CHECK(valid_utf8(e.status().message));
  auto bad = kube::error_from_response(500, "proxy said \xff\xfe");
  CHECK(bad.status().message == "proxy said \xef\xbf\xbd\xef\xbf\xbd");
  CHECK_NOTHROW(kube::json(bad.status().message).dump());
  CHECK(valid_utf8(bad.what()));
}

TEST_CASE("request bodies with ill-formed UTF-8 are sent with U+FFFD, not thrown") {
  loopback::Server server([](const loopback::Request&, size_t) {
    return answer("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}");
  });
  kube::Client client(std::make_shared<kube::HttpClient>(options(server.url())));
  kube::json cm = {{"metadata", {{"name", "a"}}}, {"data", {{"k", "bad \xff byte"}}}};
  CHECK_NOTHROW(client.create(kube::resources::config_maps(), "ns", cm));
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].body.find("bad \xef\xbf\xbd byte") != std::string::npos);
}
