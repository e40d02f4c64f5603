// The operator's AWS credential sources: the refreshing cache on a fake
// clock (renewal ahead of expiry, valid credentials kept through a failed
// renewal, backoff, invalidate), the environment and shared-file readers,
// and STS AssumeRoleWithWebIdentity against a loopback server.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "aws/local_credentials.hpp"
#include "aws/refreshing_credentials.hpp"
#include "aws/web_identity_credentials.hpp"
#include "kube_loopback.hpp"

using namespace gtoken::aws;
using namespace std::chrono_literals;

namespace {

const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const char* kToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2ln";

Getenv env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

loopback::Answer http(int status, const std::string& body) {
  loopback::Answer a;
  a.bytes = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: text/xml\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
  return a;
}

std::string assumed(const std::string& key, const std::string& expiration) {
  return "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
         "<AssumeRoleWithWebIdentityResult><AssumedRoleUser>"
         "<Arn>arn:aws:sts::123456789012:assumed-role/gtoken-admin/gtoken-operator</Arn>"
         "<AssumedRoleId>AROAX:gtoken-operator</AssumedRoleId></AssumedRoleUser>"
         "<Credentials><AccessKeyId>" +
         key + "</AccessKeyId><SecretAccessKey>" + kSecret +
         "</SecretAccessKey><SessionToken>SESSION-" + key + "</SessionToken><Expiration>" +
         expiration +
         "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
         "</AssumeRoleWithWebIdentityResponse>";
}

}  // namespace

TEST_CASE("refreshing: cached until 5 minutes before expiry, then renewed") {
  auto clock = std::make_shared<kube::FakeClock>();
  int fetches = 0;
  RefreshingCredentials c(
      "test",
      [&] {
        ++fetches;
        return ExpiringCredentials{{"AKID" + std::to_string(fetches), kSecret, "s"},
                                   clock->now() + 1h};
      },
      clock);
  CHECK(c.get().access_key_id == "AKID1");
  clock->advance(54min);
  CHECK(c.get().access_key_id == "AKID1");
  CHECK(fetches == 1);
  clock->advance(1min + 1s);
  CHECK(c.get().access_key_id == "AKID2");
  CHECK(fetches == 2);
  c.invalidate();
  CHECK(c.get().access_key_id == "AKID3");
}

TEST_CASE("refreshing: a failed renewal keeps valid credentials and backs off") {
  auto clock = std::make_shared<kube::FakeClock>();
  int fetches = 0;
  bool fail = false;
  RefreshingCredentials c(
      "gke",
      [&] {
        ++fetches;
        if (fail) throw AwsCredentialsError("STS said no");
        return ExpiringCredentials{{"AKID", kSecret, "s"}, clock->now() + 1h};
      },
      clock, RefreshPolicy{300s, 1000ms, 8000ms});
  CHECK(c.get().access_key_id == "AKID");
  fail = true;
  clock->advance(56min);  // inside the margin: renewal due
  CHECK(c.get().access_key_id == "AKID");  // failed, old still valid
  CHECK(fetches == 2);
  CHECK(c.get().access_key_id == "AKID");  // backing off: not asked again
  CHECK(fetches == 2);
  clock->advance(1001ms);
  CHECK(c.get().access_key_id == "AKID");
  CHECK(fetches == 3);
  clock->advance(1001ms);  // the second wait is 2 s
  c.get();
  CHECK(fetches == 3);
  clock->advance(4min);  // past expiry
  try {
    c.get();
    FAIL("expired credentials were served");
  } catch (const AwsCredentialsError& e) {
    CHECK(std::string(e.what()) == "AWS credentials (gke): STS said no");
  }
  const int before = fetches;
  CHECK_THROWS_AS(c.get(), AwsCredentialsError);  // still backing off
  CHECK(fetches == before);
  fail = false;
  clock->advance(9s);  // beyond the cap
  CHECK(c.get().access_key_id == "AKID");
}

TEST_CASE("refreshing: without credentials the first failure is thrown") {
  auto clock = std::make_shared<kube::FakeClock>();
  RefreshingCredentials c(
      "env", []() -> ExpiringCredentials { throw AwsCredentialsError("AWS_ACCESS_KEY_ID is not set"); },
      clock);
  CHECK_THROWS_WITH_AS(c.get(), "AWS credentials (env): AWS_ACCESS_KEY_ID is not set",
                       AwsCredentialsError);
}

TEST_CASE("environment credentials") {
  auto got = environment_credentials(env_of(
      {{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", kSecret}, {"AWS_SESSION_TOKEN", "tok"}}));
  CHECK(got.credentials.access_key_id == "AKIDENV");
  CHECK(got.credentials.secret_access_key == kSecret);
  CHECK(got.credentials.session_token == "tok");
  CHECK_FALSE(got.expiration);
  CHECK_THROWS_WITH_AS(environment_credentials(env_of({{"AWS_ACCESS_KEY_ID", "A"}})),
                       "AWS_SECRET_ACCESS_KEY is not set", AwsCredentialsError);
}

TEST_CASE("shared credentials file: the named profile only") {
  const std::string text =
      "# comment\n[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key=def\n\n"
      "[ops]\r\n  aws_access_key_id = AKIDOPS \r\naws_secret_access_key = " +
      std::string(kSecret) + "\naws_session_token = sess\nregion = us-west-2\n";
  auto ops = shared_file_credentials(text, "ops", "creds");
  CHECK(ops.credentials.access_key_id == "AKIDOPS");
  CHECK(ops.credentials.secret_access_key == kSecret);
  CHECK(ops.credentials.session_token == "sess");
  CHECK(shared_file_credentials(text, "default", "creds").credentials.access_key_id == "AKIDDEF");
  CHECK_THROWS_WITH_AS(shared_file_credentials(text, "nope", "creds"), "creds: no profile [nope]",
                       AwsCredentialsError);
  try {
    shared_file_credentials("[x]\naws_access_key_id=AKIDX\n" + std::string(kSecret) + "\n", "x", "f");
    FAIL("a line without '=' was accepted");
  } catch (const AwsCredentialsError& e) {
    CHECK(std::string(e.what()) == "f:3: not a key = value line");  // the line, not its value
  }
  CHECK(default_shared_credentials_file(env_of({{"HOME", "/home/op"}})) == "/home/op/.aws/credentials");
  CHECK(default_profile(env_of({{"AWS_PROFILE", "ops"}})) == "ops");
  CHECK(default_profile(env_of({})) == "default");
}

TEST_CASE("web identity: the token traded at STS, the session's expiry kept") {
  loopback::Server server([](const loopback::Request&, size_t) {
    return http(200, assumed("ASIA1", "2026-12-03T08:00:00Z"));
  });
  WebIdentitySettings s;
  s.sts_endpoint = server.url();
  s.role_arn = "arn:aws:iam::123456789012:role/gtoken-admin";
  WebIdentityCredentials w(s, [] { return std::string(kToken); });
  ExpiringCredentials got = w.fetch();
  CHECK(got.credentials.access_key_id == "ASIA1");
  CHECK(got.credentials.session_token == "SESSION-ASIA1");
  REQUIRE(got.expiration);
  CHECK(std::chrono::system_clock::to_time_t(*got.expiration) == 1796284800);
  const auto r = server.requests();
  REQUIRE(r.size() == 1);
  CHECK(r[0].method == "POST");
  CHECK(r[0].header("Authorization").empty());  // the call is unsigned
  CHECK(r[0].body ==
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"
        "123456789012%3Arole%2Fgtoken-admin&RoleSessionName=gtoken-operator&WebIdentityToken=" +
            std::string(kToken) + "&DurationSeconds=3600");
}

TEST_CASE("web identity: STS's refusal named, the token never") {
  loopback::Server server([](const loopback::Request&, size_t) {
    return http(403,
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                "<Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>"
                "</Error></ErrorResponse>");
  });
  WebIdentitySettings s;
  s.sts_endpoint = server.url();
  s.role_arn = "arn:aws:iam::123456789012:role/gtoken-admin";
  WebIdentityCredentials w(s, [] { return std::string(kToken); });
  try {
    w.fetch();
    FAIL("no error");
  } catch (const AwsCredentialsError& e) {
    const std::string what = e.what();
    CHECK(what.find("AccessDenied") != std::string::npos);
    CHECK(what.find("gtoken-admin") != std::string::npos);
    CHECK(what.find(kToken) == std::string::npos);
  }
  WebIdentityCredentials empty(s, [] { return std::string(); });
  CHECK_THROWS_AS(empty.fetch(), AwsCredentialsError);
  CHECK_THROWS_AS(read_token_file("/nonexistent/token"), AwsCredentialsError);
}
