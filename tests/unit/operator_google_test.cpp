// Google client pieces without a network: error decoding and the token cache.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>

#include "operator/google.hpp"

using namespace std::chrono_literals;

namespace {

class ScriptedSource final : public gtoken::CachingTokenSource {
 public:
  explicit ScriptedSource(std::shared_ptr<kube::Clock> clock) : CachingTokenSource(clock) {}
  int fetches = 0;
  bool fail = false;
  std::chrono::seconds lifetime{3600};

 protected:
  Fetched fetch() override {
    if (fail) throw gtoken::GoogleError(503, "", "metadata down");
    ++fetches;
    return {"token-" + std::to_string(fetches), lifetime};
  }
};

}  // namespace

TEST_CASE("google_error_from decodes Google's error shape") {
  auto e = gtoken::google_error_from(
      409, R"({"error":{"code":409,"message":"There were concurrent policy changes.","status":"ABORTED"}})",
      "IAM POST x");
  CHECK(e.http() == 409);
  CHECK(e.status() == "ABORTED");
  CHECK(e.is_aborted());
  CHECK(e.is_retryable());
  CHECK(std::string(e.what()) == "IAM POST x: HTTP 409 ABORTED: There were concurrent policy changes.");

  auto d = gtoken::google_error_from(403, R"({"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}})", "w");
  CHECK(d.is_permission_denied());
  CHECK_FALSE(d.is_retryable());
  CHECK_FALSE(d.is_not_found());
}

TEST_CASE("google_error_from decodes OAuth errors and plain text") {
  auto o = gtoken::google_error_from(400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})", "OAuth");
  CHECK(o.status() == "invalid_grant");
  CHECK(std::string(o.what()) == "OAuth: HTTP 400 invalid_grant: Invalid JWT Signature.");
  auto t = gtoken::google_error_from(503, "<html>busy</html>", "IAM");
  CHECK(t.is_retryable());
  CHECK(std::string(t.what()).find("<html>busy</html>") != std::string::npos);
  CHECK(gtoken::google_error_from(429, "", "x").is_retryable());
}

TEST_CASE("the token cache refreshes five minutes before expiry") {
  auto clock = std::make_shared<kube::FakeClock>();
  ScriptedSource s(clock);
  CHECK(s.token() == "token-1");
  clock->advance(54min);
  CHECK(s.token() == "token-1");
  CHECK(s.fetches == 1);
  clock->advance(1min + 1s);  // 55 min: inside the margin
  CHECK(s.token() == "token-2");
  CHECK(s.fetches == 2);
}

TEST_CASE("a short-lived token is refreshed after three quarters of its life, not on every call") {
  auto clock = std::make_shared<kube::FakeClock>();
  ScriptedSource s(clock);
  s.lifetime = 240s;  // less than the 5 min margin
  CHECK(s.token() == "token-1");
  CHECK(s.token() == "token-1");
  clock->advance(179s);
  CHECK(s.token() == "token-1");
  clock->advance(2s);
  CHECK(s.token() == "token-2");
}

TEST_CASE("a failed refresh keeps serving a still valid token; an expired one is an error") {
  auto clock = std::make_shared<kube::FakeClock>();
  ScriptedSource s(clock);
  CHECK(s.token() == "token-1");
  clock->advance(56min);
  s.fail = true;
  CHECK(s.token() == "token-1");
  clock->advance(5min);  // past expiry
  CHECK_THROWS_AS(s.token(), gtoken::GoogleError);
  s.fail = false;
  CHECK(s.token() == "token-2");
}

TEST_CASE("invalidate forces a new token") {
  auto clock = std::make_shared<kube::FakeClock>();
  ScriptedSource s(clock);
  CHECK(s.token() == "token-1");
  s.invalidate();
  CHECK(s.token() == "token-2");
}

TEST_CASE("metadata_base_url honours GCE_METADATA_HOST") {
  setenv("GCE_METADATA_HOST", "127.0.0.1:8999", 1);
  CHECK(gtoken::metadata_base_url() == "http://127.0.0.1:8999");
  unsetenv("GCE_METADATA_HOST");
  CHECK(gtoken::metadata_base_url() == "http://169.254.169.254");
}
