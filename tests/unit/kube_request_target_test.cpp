// Every request target is safe (issue #9): Resource::path and the HTTP
// client's request writer driven with arbitrary bytes. For each input either
// a typed error is thrown before any I/O, or exactly one request reaches the
// wire and its target parses back to the intended segments.
#include <doctest/doctest.h>

#include <cctype>
#include <random>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "kube/errors.hpp"
#include "kube/http.hpp"
#include "kube/names.hpp"
#include "kube/resource.hpp"
#include "tests/unit/kube_loopback.hpp"

namespace {

const std::vector<std::string> kHostile = {
    "\r\nDELETE /api/v1/namespaces/kube-system/secrets/x HTTP/1.1\r\nHost: a\r\n\r\n",
    "a\r\nDELETE /api/v1/namespaces/default/pods/p HTTP/1.1\r\n",
    " HTTP/1.1\r\n\r\nDELETE /api/v1/namespaces/default HTTP/1.1",
    "%0d%0a",
    "a%0D%0ADELETE",
    "%2F",
    "../",
    "..",
    ".",
    "../../api/v1/secrets",
    "a/b",
    "a/../b",
    "?x",
    "a?watch=1",
    "#",
    "a#b",
    "a b",
    "\t",
    std::string("a\0b", 3),
    std::string(1, '\0'),
    "\x7f",
    "caf\xc3\xa9",  // é
    "\xe2\x80\xae"
    "evil",      // RTL override
    "\xff\xfe",  // not UTF-8
    "A",
    "-a",
    "a-",
    "a..b",
    "a_b",
    "a:b",
    "system:serviceaccount:x",
    std::string(64, 'a'),
    std::string(254, 'a'),
    "",
};

std::vector<std::string> segments_of(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  size_t start = 1;  // skip the leading '/'
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string seg =
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    out.push_back(kube::decode_path_segment(seg));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// Random strings, biased towards bytes that matter: name characters, path
// and query syntax, control bytes, and high bytes.
std::string random_string(std::mt19937& rng) {
  static const std::string interesting = "abcz09-.-./%?#&= \r\n\t\\:@";
  std::uniform_int_distribution<int> len(0, 12);
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> pick(0, interesting.size() - 1);
  std::string s;
  int n = len(rng);
  for (int i = 0; i < n; ++i) {
    int k = kind(rng);
    if (k < 5) {
      s.push_back("abcdefghijklmnopqrstuvwxyz0123456789"[byte(rng) % 36]);
    } else if (k < 8) {
      s.push_back(interesting[pick(rng)]);
    } else {
      s.push_back(static_cast<char>(byte(rng)));
    }
  }
  if (kind(rng) == 0 && !kHostile.empty()) s += kHostile[byte(rng) % kHostile.size()];
  return s;
}

std::string random_subresource(std::mt19937& rng) {
  static const std::vector<std::string> subs = {"",    "",       "status",   "scale",      "token",
                                                "log", "Status", "status/x", "status\r\n", "exec"};
  std::uniform_int_distribution<size_t> pick(0, subs.size() - 1);
  return subs[pick(rng)];
}

bool known_subresource(const std::string& s) {
  for (const char* k : {"status", "scale", "token", "eviction", "binding", "log", "finalize",
                        "approval", "ephemeralcontainers", "resize"}) {
    if (s == k) return true;
  }
  return false;
}

const kube::Resource& things() {  // names by the apiserver's own path rule
  static const kube::Resource r{"example.com", "v1",    "things",
                                true,          "Thing", kube::NameRule::PathSegment};
  return r;
}

kube::HttpRequest get(std::string target, std::string method = "GET") {
  kube::HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  return r;
}

struct Fixture {
  loopback::Server server;
  std::shared_ptr<kube::HttpClient> http;
  Fixture() {
    kube::HttpOptions o;
    o.base_url = server.url();
    o.request_timeout = std::chrono::seconds(5);
    http = std::make_shared<kube::HttpClient>(o);
  }

  // Checks one (resource, ns, name, sub) case; returns true if it was sent.
  bool check(const kube::Resource& r, const std::string& ns, const std::string& name,
             const std::string& sub) {
    bool use_ns = r.namespaced && !ns.empty();  // cluster-scoped: ns is ignored
    bool ns_ok = !use_ns || kube::is_dns1123_label(ns);
    bool name_ok = name.empty() ||
                   (r.name_rule == kube::NameRule::PathSegment ? kube::is_path_segment_name(name)
                    : r.name_rule == kube::NameRule::Label     ? kube::is_dns1123_label(name)
                                                               : kube::is_dns1123_subdomain(name));
    bool sub_ok = sub.empty() || (!name.empty() && known_subresource(sub));
    bool expect_ok = ns_ok && name_ok && sub_ok;
    size_t before = server.request_count();
    std::string target;
    try {
      target = r.path(ns, name, sub);
    } catch (const kube::InvalidName& e) {
      INFO("unexpected InvalidName: " << e.what());
      CHECK_FALSE(expect_ok);
      // The message quotes the value with no raw control byte.
      for (char c : std::string(e.what())) CHECK((static_cast<unsigned char>(c) >= 0x20));
      CHECK(server.request_count() == before);
      return false;
    }
    CHECK(expect_ok);
    kube::HttpRequest req;
    req.target = target;
    auto res = http->request(req);
    CHECK(res.status == 200);
    auto reqs = server.requests();
    REQUIRE(reqs.size() == before + 1);
    CHECK(reqs.back().target == target);
    std::vector<std::string> want = {"apis", r.group, r.version};
    if (use_ns) {
      want.push_back("namespaces");
      want.push_back(ns);
    }
    want.push_back(r.plural);
    if (!name.empty()) want.push_back(name);
    if (!sub.empty()) want.push_back(sub);
    if (r.group.empty()) want.erase(want.begin() + 1), want[0] = "api";
    CHECK(segments_of(reqs.back().target) == want);
    return true;
  }
};

}  // namespace

TEST_CASE("hostile names: a typed error or one request with the intended segments") {
  Fixture f;
  const kube::Resource* resources[] = {&kube::resources::service_accounts(),
                                       &kube::resources::namespaces(), &things()};
  size_t sent = 0;
  for (const auto* r : resources) {
    for (const auto& bad : kHostile) {
      sent += f.check(*r, bad, "sa", "");
      sent += f.check(*r, "default", bad, "");
      sent += f.check(*r, "default", "sa", bad);
    }
  }
  CHECK(sent > 0);
  CHECK(f.server.request_lines() == f.server.request_count());
  CHECK(f.server.request_lines() == sent);
  CHECK(f.server.connections() == 1);  // nothing broke the keep-alive connection
}

TEST_CASE("the smuggling from issue #9 is refused before any I/O") {
  Fixture f;
  std::string sa = "x HTTP/1.1\r\nHost: a\r\n\r\nDELETE /api/v1/namespaces/prod/pods/db HTTP/1.1";
  try {
    f.http->request(get(kube::resources::service_accounts().path("default", sa)));
    FAIL("must throw");
  } catch (const kube::InvalidName& e) {
    std::string what = e.what();
    CHECK(what.find("invalid name \"x HTTP/1.1\\x0d\\x0aHost") == 0);
    CHECK(what.find('\r') == std::string::npos);
    CHECK(what.find('\n') == std::string::npos);
    CHECK(e.field() == "name");
  }
  // And by a Client, which also refuses an empty name (a DELETE would hit
  // the collection).
  kube::Client client(f.http);
  CHECK_THROWS_AS(client.get(kube::resources::service_accounts(), "default", sa),
                  kube::InvalidName);
  CHECK_THROWS_AS(client.remove(kube::resources::pods(), "default", ""), kube::InvalidName);
  CHECK_THROWS_AS(client.get(kube::resources::pods(), "Default", "p"), kube::InvalidName);
  CHECK(f.server.request_count() == 0);
  CHECK(f.server.connections() == 0);
}

TEST_CASE("property: Resource::path with random namespace, name and subresource") {
  Fixture f;
  std::mt19937 rng(20261201);  // fixed seed: a failure reproduces
  const kube::Resource* resources[] = {&kube::resources::pods(), &kube::resources::namespaces(),
                                       &kube::resources::leases(), &things()};
  std::uniform_int_distribution<int> pick(0, 3);
  std::uniform_int_distribution<int> valid_ns(0, 2);
  size_t sent = 0;
  for (int i = 0; i < 4000; ++i) {
    const kube::Resource& r = *resources[pick(rng)];
    std::string ns = valid_ns(rng) == 0 ? random_string(rng) : "ns-" + std::to_string(i % 7);
    std::string name = random_string(rng);
    if (i % 3 == 0) name = "n" + std::to_string(i) + ".x";  // some valid ones
    sent += f.check(r, ns, name, random_subresource(rng));
  }
  MESSAGE("sent " << sent << " of 4000");
  CHECK(sent > 500);
  CHECK(f.server.request_lines() == sent);
  CHECK(f.server.connections() == 1);
}

TEST_CASE("property: the request writer refuses unsafe targets and header values") {
  Fixture f;
  std::mt19937 rng(9);
  size_t sent = 0;
  auto sentinel = [&] {
    // After a refusal, a good request must be the very next one on the wire.
    size_t before = f.server.request_count();
    f.http->request(get("/sentinel"));
    auto reqs = f.server.requests();
    REQUIRE(reqs.size() == before + 1);
    CHECK(reqs.back().target == "/sentinel");
    ++sent;
  };
  for (int i = 0; i < 3000; ++i) {
    std::string target = "/" + random_string(rng);
    if (i % 5 == 0) target = random_string(rng);  // maybe no leading '/'
    bool target_ok = !target.empty() && target[0] == '/';
    for (unsigned char c : target) target_ok = target_ok && c > 0x20 && c < 0x7f && c != '#';
    std::string value = random_string(rng);
    bool value_ok = true;
    for (unsigned char c : value) value_ok = value_ok && (c >= 0x20 || c == '\t') && c != 0x7f;
    kube::HttpRequest req;
    req.target = target;
    req.headers = {{"X-Test", value}};
    size_t before = f.server.request_count();
    try {
      f.http->request(req);
      CHECK((target_ok && value_ok));
      auto reqs = f.server.requests();
      REQUIRE(reqs.size() == before + 1);
      CHECK(reqs.back().target == target);
      ++sent;
    } catch (const kube::InvalidRequest& e) {
      CHECK_FALSE((target_ok && value_ok));
      CHECK(f.server.request_count() == before);
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
      sentinel();
    }
  }
  for (const auto& bad : kHostile) {
    kube::HttpRequest req;
    req.target = "/api/v1/namespaces/" + bad;
    bool has_ctl = false;
    for (unsigned char c : bad) has_ctl = has_ctl || c <= 0x20 || c >= 0x7f || c == '#';
    if (has_ctl) {
      CHECK_THROWS_AS(f.http->request(req), kube::InvalidRequest);
      sentinel();
    }
    req.target = "/ok";
    req.headers = {{"X-Test", bad}};
    bool bad_value = false;
    for (unsigned char c : bad) bad_value = bad_value || (c < 0x20 && c != '\t') || c == 0x7f;
    if (bad_value) {
      CHECK_THROWS_AS(f.http->request(req), kube::InvalidRequest);
      sentinel();
    }
    req.headers = {{bad, "v"}};
    bool token = !bad.empty();
    for (unsigned char c : bad) {
      token =
          token && (std::isalnum(c) ||
                    std::string("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string::npos);
    }
    if (token) {
      f.http->request(req);
      ++sent;
    } else {
      CHECK_THROWS_AS(f.http->request(req), kube::InvalidRequest);
      sentinel();
    }
  }
  CHECK(f.server.request_lines() == sent);
  CHECK(f.server.connections() == 1);
}

TEST_CASE("bearer token and method are checked too, and the token is never quoted") {
  loopback::Server server;
  kube::HttpOptions o;
  o.base_url = server.url();
  std::string token = "secret-abc\r\nX-Evil: 1";
  o.bearer_token = [&] { return token; };
  kube::HttpClient http(o);
  try {
    http.request(get("/"));
    FAIL("must throw");
  } catch (const kube::InvalidRequest& e) {
    std::string what = e.what();
    CHECK(what.find("Authorization") != std::string::npos);
    CHECK(what.find("secret") == std::string::npos);
  }
  token = "good";
  CHECK_THROWS_AS(http.request(get("/", "GET /x HTTP/1.1\r\n")),
                  kube::InvalidRequest);
  CHECK_THROWS_AS(http.request(get("/", "")), kube::InvalidRequest);
  CHECK(server.request_count() == 0);
  CHECK(http.request(get("/")).status == 200);
  CHECK(server.requests().at(0).header("Authorization") == "Bearer good");

  kube::HttpOptions bad_ua = o;
  bad_ua.user_agent = "x\r\nY: z";
  CHECK_THROWS_AS(kube::HttpClient{bad_ua}, kube::InvalidRequest);
  kube::HttpOptions bad_host = o;
  bad_host.base_url = "http://127.0.0.1\r\nX: y:80";
  CHECK_THROWS_AS(kube::HttpClient{bad_host}, kube::InvalidRequest);
}

TEST_CASE("names.hpp: label, subdomain, path segment, encoding") {
  CHECK(kube::is_dns1123_label("a"));
  CHECK(kube::is_dns1123_label("a-1"));
  CHECK_FALSE(kube::is_dns1123_label("a.b"));
  CHECK_FALSE(kube::is_dns1123_label(std::string(64, 'a')));
  CHECK(kube::is_dns1123_subdomain("a.b-c.d"));
  CHECK_FALSE(kube::is_dns1123_subdomain("a..b"));
  CHECK_FALSE(kube::is_dns1123_subdomain(".a"));
  CHECK_FALSE(kube::is_dns1123_subdomain(std::string(254, 'a')));
  CHECK(kube::is_path_segment_name("system:controller:x"));
  CHECK_FALSE(kube::is_path_segment_name(".."));
  CHECK_FALSE(kube::is_path_segment_name("a%2F"));
  CHECK(kube::encode_path_segment("a b/c?d#e\r\n%") == "a%20b%2Fc%3Fd%23e%0D%0A%25");
  CHECK(kube::encode_path_segment("aZ0-._~") == "aZ0-._~");
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; ++i) {
    std::string s = random_string(rng);
    CHECK(kube::decode_path_segment(kube::encode_path_segment(s)) == s);
  }
  CHECK(kube::resources::config_maps().path("ns", "a", "status") ==
        "/api/v1/namespaces/ns/configmaps/a/status");
  CHECK(things().path("ns", "system:x y") ==
        "/apis/example.com/v1/namespaces/ns/things/system%3Ax%20y");
  // Events with generateName are POSTed to the collection: no name needed.
  CHECK(kube::resources::events().path("ns") == "/apis/events.k8s.io/v1/namespaces/ns/events");
  CHECK_THROWS_AS(kube::resources::pods().path("ns", "", "status"), kube::InvalidName);
  CHECK_THROWS_AS(kube::resources::pods().object_path("ns", ""), kube::InvalidName);
}
