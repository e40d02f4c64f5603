// agent/plain_http: the agent's own plain-HTTP client, against a loopback
// listener (tests/unit/kube_loopback.hpp) and raw bytes.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "agent/plain_http.hpp"
#include "kube/errors.hpp"
#include "kube_loopback.hpp"

using namespace gtoken::agent;
using namespace std::chrono_literals;

namespace {

PlainHttpClient client_for(const loopback::Server& s, std::chrono::milliseconds timeout = 2000ms,
                           size_t cap = size_t{256} << 10) {
  PlainHttpOptions o = parse_plain_http_origin(s.url());
  o.request_timeout = timeout;
  o.max_response_bytes = cap;
  o.user_agent = "gtoken test";
  return PlainHttpClient(o);
}

kube::HttpRequest get(const std::string& target) {
  kube::HttpRequest r;
  r.method = "GET";
  r.target = target;
  return r;
}

loopback::Answer answer(std::string bytes, bool close_after = false) {
  loopback::Answer a;
  a.bytes = std::move(bytes);
  a.close_after = close_after;
  return a;
}

// A port with nothing listening.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

TEST_CASE("a GET goes out as a well-formed HTTP/1.1 request and the answer is parsed") {
  loopback::Server server([](const loopback::Request&, size_t) {
    return answer("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Two: a\r\nx-two: b\r\n"
                  "Content-Length: 5\r\n\r\nhello");
  });
  auto c = client_for(server);
  kube::HttpRequest req = get("/computeMetadata/v1/x?audience=a%2Fb&format=full");
  req.headers = {{"Metadata-Flavor", "Google"}};
  kube::HttpResponse r = c.request(req);
  CHECK(r.status == 200);
  CHECK(r.body == "hello");
  CHECK(r.header("content-type") == "text/plain");
  CHECK(r.header("x-two") == "a, b");

  REQUIRE(server.request_count() == 1);
  const auto got = server.requests()[0];
  CHECK(got.method == "GET");
  CHECK(got.target == "/computeMetadata/v1/x?audience=a%2Fb&format=full");
  CHECK(got.raw.rfind("GET /computeMetadata/v1/x?audience=a%2Fb&format=full HTTP/1.1\r\n", 0) ==
        0);
  CHECK(got.header("Host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(got.header("Metadata-Flavor") == "Google");
  CHECK(got.header("Connection") == "close");
  CHECK(got.header("User-Agent") == "gtoken test");
  CHECK(got.raw.find("Content-Length") == std::string::npos);  // a GET has no body
  CHECK(server.request_lines() == 1);
}

TEST_CASE("a POST carries its body with Content-Length") {
  loopback::Server server([](const loopback::Request&, size_t) {
    return answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
  });
  auto c = client_for(server);
  kube::HttpRequest req;
  req.method = "POST";
  req.target = "/v1/projects/-/serviceAccounts/a@b.c:generateIdToken";
  req.headers = {{"Authorization", "Bearer secret-token"}, {"Content-Type", "application/json"}};
  req.body = R"({"audience":"x"})";
  CHECK(c.request(req).body == "{}");
  const auto got = server.requests().at(0);
  CHECK(got.header("Content-Length") == std::to_string(req.body.size()));
  CHECK(got.body == req.body);
  CHECK(got.header("Authorization") == "Bearer secret-token");
}

TEST_CASE("chunked bodies, bodies up to the close, and 204 are read") {
  SUBCASE("chunked, with an extension and a trailer") {
    loopback::Server server([](const loopback::Request&, size_t) {
      return answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "4;ext=1\r\neyJh\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
    });
    CHECK(client_for(server).request(get("/")).body == "eyJh0123456789");
  }
  SUBCASE("no length: until the server closes") {
    loopback::Server server([](const loopback::Request&, size_t) {
      return answer("HTTP/1.1 200 OK\r\n\r\nuntil the end", true);
    });
    CHECK(client_for(server).request(get("/")).body == "until the end");
  }
  SUBCASE("204 has no body") {
    loopback::Server server([](const loopback::Request&, size_t) {
      return answer("HTTP/1.1 204 No Content\r\n\r\n");
    });
    auto r = client_for(server).request(get("/"));
    CHECK(r.status == 204);
    CHECK(r.body.empty());
  }
  SUBCASE("an interim 100 Continue is skipped") {
    loopback::Server server([](const loopback::Request&, size_t) {
      return answer("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n"
                    "Content-Length: 9\r\n\r\nnot found");
    });
    auto r = client_for(server).request(get("/"));
    CHECK(r.status == 404);
    CHECK(r.body == "not found");
  }
}

TEST_CASE("redirects are not followed") {
  loopback::Server server([](const loopback::Request&, size_t) {
    return answer("HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/elsewhere\r\n"
                  "Content-Length: 0\r\n\r\n");
  });
  auto r = client_for(server).request(get("/"));
  CHECK(r.status == 302);
  CHECK(r.header("location") == "http://169.254.169.254/elsewhere");
  CHECK(server.request_count() == 1);
  CHECK(server.connections() == 1);
}

TEST_CASE("responses over the cap are refused") {
  SUBCASE("body") {
    loopback::Server server([](const loopback::Request&, size_t) {
      return answer("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'x'));
    });
    CHECK_THROWS_WITH_AS(client_for(server, 2000ms, 64 << 10).request(get("/")),
                         doctest::Contains("larger than 65536 bytes"), kube::NetworkError);
  }
  SUBCASE("body without a length") {
    loopback::Server server([](const loopback::Request&, size_t) {
      return answer("HTTP/1.1 200 OK\r\n\r\n" + std::string(100000, 'x'), true);
    });
    CHECK_THROWS_AS(client_for(server, 2000ms, 64 << 10).request(get("/")), kube::NetworkError);
  }
  SUBCASE("headers") {
    loopback::Server server([](const loopback::Request&, size_t) {
      return answer("HTTP/1.1 200 OK\r\nX-Big: " + std::string(20000, 'h') +
                    "\r\nContent-Length: 0\r\n\r\n");
    });
    CHECK_THROWS_WITH_AS(client_for(server).request(get("/")),
                         doctest::Contains("headers larger than 16 KiB"), kube::NetworkError);
  }
}

TEST_CASE("malformed and truncated responses are network errors") {
  for (std::string bytes : {
           std::string("SSH-2.0-OpenSSH\r\n\r\n"),
           std::string("HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
           std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
           std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
           std::string("HTTP/1.1 200 OK\r\nContent-"),
           std::string(""),
       }) {
    CAPTURE(bytes);
    loopback::Server server([&](const loopback::Request&, size_t) { return answer(bytes, true); });
    CHECK_THROWS_AS(client_for(server).request(get("/")), kube::NetworkError);
    CHECK_THROWS_AS(parse_http_response(bytes), kube::NetworkError);
  }
}

TEST_CASE("a server that never answers times out; a closed port is refused") {
  loopback::Server server([](const loopback::Request&, size_t) {
    std::this_thread::sleep_for(1500ms);
    return answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  CHECK_THROWS_WITH_AS(client_for(server, 200ms).request(get("/")),
                       doctest::Contains("timed out after 200 ms"), kube::NetworkError);

  PlainHttpOptions o;
  o.host = "127.0.0.1";
  o.port = std::to_string(closed_port());
  CHECK_THROWS_WITH_AS(PlainHttpClient(o).request(get("/")), doctest::Contains("connect 127.0.0.1:"),
                       kube::NetworkError);
}

TEST_CASE("a per-request timeout overrides the client's") {
  loopback::Server server([](const loopback::Request&, size_t) {
    std::this_thread::sleep_for(1000ms);
    return answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  kube::HttpRequest req = get("/");
  req.timeout = 100ms;
  CHECK_THROWS_WITH_AS(client_for(server, 60000ms).request(req),
                       doctest::Contains("timed out after 100 ms"), kube::NetworkError);
}

TEST_CASE("unsafe targets and headers are refused before connecting, never quoting the value") {
  loopback::Server server;
  auto c = client_for(server);
  kube::HttpRequest req = get("/ok");
  req.headers = {{"Authorization", "Bearer abc\r\nX-Injected: 1"}};
  try {
    c.request(req);
    FAIL("no exception");
  } catch (const kube::InvalidRequest& ex) {
    CHECK(std::string(ex.what()).find("abc") == std::string::npos);
  }
  CHECK_THROWS_AS(c.request(get("/a b")), kube::InvalidRequest);
  CHECK_THROWS_AS(c.request(get("/a\r\nHost: evil")), kube::InvalidRequest);
  CHECK_THROWS_AS(c.request(get("http://elsewhere/")), kube::InvalidRequest);
  kube::HttpRequest bad_name = get("/");
  bad_name.headers = {{"X:Y", "v"}};
  CHECK_THROWS_AS(c.request(bad_name), kube::InvalidRequest);
  kube::HttpRequest bad_method = get("/");
  bad_method.method = "GET /x HTTP/1.1\r\n";
  CHECK_THROWS_AS(c.request(bad_method), kube::InvalidRequest);
  std::this_thread::sleep_for(50ms);
  CHECK(server.connections() == 0);
}

TEST_CASE("origins") {
  auto o = parse_plain_http_origin("169.254.169.254");
  CHECK(o.host == "169.254.169.254");
  CHECK(o.port == "80");
  o = parse_plain_http_origin("127.0.0.1:8080");
  CHECK(o.host == "127.0.0.1");
  CHECK(o.port == "8080");
  o = parse_plain_http_origin("http://metadata:81/ignored/path");
  CHECK(o.host == "metadata");
  CHECK(o.port == "81");
  o = parse_plain_http_origin("[::1]:9000");
  CHECK(o.host == "::1");
  CHECK(o.port == "9000");
  o = parse_plain_http_origin("http://[fe80::1]");
  CHECK(o.host == "fe80::1");
  CHECK(o.port == "80");
  for (const char* bad : {"https://iamcredentials.googleapis.com", "ftp://x", "", ":80", "h:0",
                          "h:65536", "h:8x", "::1", "[::1", "[::1]x", "user@host", "a b"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_plain_http_origin(bad), std::invalid_argument);
  }
}

TEST_CASE("a name is resolved and each address tried") {
  // A name goes through the resolver; "localhost" is in every /etc/hosts.
  loopback::Server server([](const loopback::Request&, size_t) {
    return answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  PlainHttpOptions o;
  o.host = "localhost";
  o.port = std::to_string(server.port());
  CHECK(PlainHttpClient(o).request(get("/")).body == "ok");
  CHECK(server.requests().at(0).header("Host") == "localhost:" + std::to_string(server.port()));
}

TEST_CASE("url_encode keeps only RFC 3986 unreserved bytes") {
  CHECK(url_encode("gtoken/sts/assume-role-with-web-identity") ==
        "gtoken%2Fsts%2Fassume-role-with-web-identity");
  CHECK(url_encode("a b&c=d~e_f.g") == "a%20b%26c%3Dd~e_f.g");
  CHECK(url_encode(std::string("\xff\x00", 2)) == "%FF%00");
}
