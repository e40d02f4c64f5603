#include <doctest/doctest.h>

#include "agent/sources.hpp"
#include "agent/testing/fakes.hpp"
#include "kube/errors.hpp"

using namespace gtoken::agent;
using namespace std::chrono_literals;

namespace {

constexpr TimePoint kNow = TimePoint{} + std::chrono::seconds(1700000000);

// Records requests and answers from a queue.
struct FakeHttp {
  std::vector<kube::HttpRequest> requests;
  std::deque<std::function<kube::HttpResponse()>> answers;
  HttpFn fn() {
    return [this](const kube::HttpRequest& r) {
      requests.push_back(r);
      REQUIRE_FALSE(answers.empty());
      auto a = answers.front();
      answers.pop_front();
      return a();
    };
  }
  void answer(int status, const std::string& body) {
    answers.push_back([status, body] {
      kube::HttpResponse r;
      r.status = status;
      r.body = body;
      return r;
    });
  }
  void fail_network() {
    answers.push_back([]() -> kube::HttpResponse { throw kube::NetworkError("connect: refused"); });
  }
};

std::string header(const kube::HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) {
      return v;
    }
  }
  return {};
}

}  // namespace

TEST_CASE("status classification follows Google's retryable set") {
  for (int s : {408, 429, 500, 502, 503, 504}) {
    CHECK(classify_status(s) == ErrorKind::transient);
  }
  for (int s : {301, 400, 401, 403, 404, 409, 422}) {
    CHECK(classify_status(s) == ErrorKind::config);
  }
}

TEST_CASE("metadata source sends the documented request") {
  FakeHttp http;
  const std::string tok = testing::make_jwt(kNow, kNow + 1h);
  http.answer(200, tok + "\n");
  MetadataTokenSource src(http.fn(), "https://example.com/aud?x=1", 7s);
  FetchResult r = src.fetch();
  REQUIRE(r.ok());
  CHECK(r.token == tok);  // trailing whitespace trimmed
  REQUIRE(http.requests.size() == 1);
  const auto& req = http.requests[0];
  CHECK(req.method == "GET");
  CHECK(req.target ==
        "/computeMetadata/v1/instance/service-accounts/default/identity"
        "?audience=https%3A%2F%2Fexample.com%2Faud%3Fx%3D1&format=full");
  CHECK(header(req, "Metadata-Flavor") == "Google");
  CHECK(req.timeout == 7s);
}

TEST_CASE("metadata source maps failures") {
  FakeHttp http;
  MetadataTokenSource src(http.fn(), "aud");

  http.fail_network();
  auto net = src.fetch();
  REQUIRE_FALSE(net.ok());
  CHECK(net.error->kind == ErrorKind::transient);
  CHECK(net.error->http_status == 0);
  CHECK(net.error->message.find("connect: refused") != std::string::npos);

  http.answer(404, "Not Found\n");
  auto nf = src.fetch();
  CHECK(nf.error->kind == ErrorKind::config);
  CHECK(nf.error->http_status == 404);
  CHECK(nf.error->message == "metadata server answered HTTP 404: Not Found");
  CHECK(nf.error->hint ==
        "this pod's KSA is not bound to a GSA: check iam.gke.io/gcp-service-account and the "
        "Workload Identity binding");

  http.answer(400, "non-empty audience parameter required");
  CHECK(src.fetch().error->hint.find("--audience") != std::string::npos);
  http.answer(403, "");
  CHECK(src.fetch().error->hint.find("Workload Identity") != std::string::npos);
  http.answer(503, "busy");
  CHECK(src.fetch().error->kind == ErrorKind::transient);

  http.answer(200, "<html>not a token</html>");
  auto bad = src.fetch();
  CHECK(bad.error->kind == ErrorKind::invalid_token);
  CHECK(bad.error->message.find("not a token") == std::string::npos);

  http.answer(500, std::string(5000, 'x') + "\x01\x02");
  auto big = src.fetch();
  CHECK(big.error->message.size() < 300);
}

TEST_CASE("metadata address") {
  CHECK(metadata_address("") == "169.254.169.254");
  CHECK(metadata_address("metadata.google.internal") == "169.254.169.254");
  CHECK(metadata_address("127.0.0.1:8080") == "127.0.0.1:8080");
}

TEST_CASE("IAM source: access token, then generateIdToken; the access token is cached") {
  kube::FakeClock clock(kNow);
  FakeHttp md, iam;
  const std::string tok = testing::make_jwt(kNow, kNow + 1h);
  md.answer(200, R"({"access_token":"ya29.AT","expires_in":3599,"token_type":"Bearer"})");
  iam.answer(200, nlohmann::json{{"token", tok}}.dump());
  iam.answer(200, nlohmann::json{{"token", tok}}.dump());
  IamTokenSource src(md.fn(), iam.fn(), "app@proj.iam.gserviceaccount.com", "sts.amazonaws.com",
                     clock);

  auto r = src.fetch();
  REQUIRE(r.ok());
  CHECK(r.token == tok);
  REQUIRE(md.requests.size() == 1);
  CHECK(md.requests[0].target == "/computeMetadata/v1/instance/service-accounts/default/token");
  CHECK(header(md.requests[0], "Metadata-Flavor") == "Google");
  REQUIRE(iam.requests.size() == 1);
  const auto& req = iam.requests[0];
  CHECK(req.method == "POST");
  CHECK(req.target ==
        "/v1/projects/-/serviceAccounts/app@proj.iam.gserviceaccount.com:generateIdToken");
  CHECK(header(req, "Authorization") == "Bearer ya29.AT");
  CHECK(header(req, "Content-Type") == "application/json");
  CHECK(nlohmann::json::parse(req.body) ==
        nlohmann::json{{"audience", "sts.amazonaws.com"}, {"includeEmail", true}});

  clock.advance(30min);
  CHECK(src.fetch().ok());
  CHECK(md.requests.size() == 1);  // cached

  // Near its expiry the access token is fetched again.
  clock.advance(29min + 30s);
  md.answer(200, R"({"access_token":"ya29.AT2","expires_in":3599})");
  iam.answer(200, nlohmann::json{{"token", tok}}.dump());
  CHECK(src.fetch().ok());
  CHECK(md.requests.size() == 2);
  CHECK(header(iam.requests.back(), "Authorization") == "Bearer ya29.AT2");
}

TEST_CASE("IAM source errors") {
  kube::FakeClock clock(kNow);
  FakeHttp md, iam;
  IamTokenSource src(md.fn(), iam.fn(), "app@proj.iam.gserviceaccount.com", "aud", clock);

  md.answer(404, "Not Found");
  auto a = src.fetch();
  CHECK(a.error->kind == ErrorKind::config);
  CHECK(a.error->hint.find("not bound to a GSA") != std::string::npos);
  CHECK(iam.requests.empty());

  md.answer(200, R"({"access_token":"ya29.AT","expires_in":3599})");
  iam.answer(
      403,
      R"({"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getOpenIdToken' denied","status":"PERMISSION_DENIED"}})");
  auto b = src.fetch();
  CHECK(b.error->kind == ErrorKind::config);
  CHECK(b.error->message.find("getOpenIdToken' denied") != std::string::npos);
  CHECK(b.error->hint.find("roles/iam.serviceAccountTokenCreator") != std::string::npos);

  // 401: the cached access token is dropped and the error is transient.
  iam.answer(
      401, R"({"error":{"code":401,"message":"Request had invalid authentication credentials."}})");
  auto c = src.fetch();
  CHECK(c.error->kind == ErrorKind::transient);
  md.answer(200, R"({"access_token":"ya29.NEW","expires_in":3599})");
  iam.answer(200, nlohmann::json{{"token", testing::make_jwt(kNow, kNow + 1h)}}.dump());
  CHECK(src.fetch().ok());
  CHECK(header(iam.requests.back(), "Authorization") == "Bearer ya29.NEW");

  iam.answer(200, R"({"nope":1})");
  CHECK(src.fetch().error->kind == ErrorKind::invalid_token);
  iam.answer(200, R"({"token":"abc"})");
  CHECK(src.fetch().error->kind == ErrorKind::invalid_token);
  iam.fail_network();
  CHECK(src.fetch().error->kind == ErrorKind::transient);
}

TEST_CASE("service account email validation") {
  CHECK(valid_service_account_email("app@proj.iam.gserviceaccount.com"));
  CHECK(valid_service_account_email("123-compute@developer.gserviceaccount.com"));
  CHECK_FALSE(valid_service_account_email(""));
  CHECK_FALSE(valid_service_account_email("@x"));
  CHECK_FALSE(valid_service_account_email("a@"));
  CHECK_FALSE(valid_service_account_email("a@b@c"));
  CHECK_FALSE(valid_service_account_email("a b@c"));
  CHECK_FALSE(valid_service_account_email("a/../b@c"));
}
