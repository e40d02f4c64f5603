// aws::IamClient on the wire, against a loopback server: the signed form
// it POSTs, the answers and errors it reads, and the one retry with new
// credentials when IAM says the session expired.
#include <doctest/doctest.h>

#include <atomic>
#include <string>

#include "aws/iam_client.hpp"
#include "aws/sigv4.hpp"
#include "kube_loopback.hpp"

namespace {

const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const char* kSession = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";

const char* kGetRole =
    "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetRoleResult><Role>"
    "<Path>/gtoken/</Path><Arn>arn:aws:iam::123456789012:role/gtoken/app</Arn>"
    "<RoleName>app</RoleName>"
    "<AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"
    "</AssumeRolePolicyDocument><CreateDate>2026-01-01T00:00:00Z</CreateDate>"
    "<RoleId>AROAEXAMPLEID</RoleId></Role></GetRoleResult>"
    "<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetRoleResponse>";

std::string error_xml(const std::string& code) {
  return "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>"
         "<Type>Sender</Type><Code>" +
         code + "</Code><Message>said " + code +
         "</Message></Error><RequestId>r2</RequestId></ErrorResponse>";
}

loopback::Answer http(int status, const std::string& body) {
  loopback::Answer a;
  a.bytes = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: text/xml\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
  return a;
}

// Hands out key N (AKID1, AKID2, ...) after each invalidate().
struct CountingSource : gtoken::aws::CredentialSource {
  std::atomic<int> generation{1};
  std::atomic<int> invalidated{0};
  gtoken::aws::Credentials get() override {
    return {"AKID" + std::to_string(generation.load()), kSecret, kSession};
  }
  void invalidate() override {
    ++invalidated;
    ++generation;
  }
};

}  // namespace

TEST_CASE("GetRole: a SigV4-signed form POST, and the role read back") {
  loopback::Server server([](const loopback::Request&, size_t) { return http(200, kGetRole); });
  auto clock = std::make_shared<kube::FakeClock>();
  auto source = std::make_shared<CountingSource>();
  gtoken::aws::IamClient iam(server.url(), "us-east-1", source, clock);
  gtoken::aws::IamRole role = iam.get_role("app");
  CHECK(role.path == "/gtoken/");
  CHECK(role.trust_policy == R"({"Version":"2012-10-17","Statement":[]})");
  CHECK(role.arn == "arn:aws:iam::123456789012:role/gtoken/app");

  const auto requests = server.requests();
  REQUIRE(requests.size() == 1);
  const loopback::Request& r = requests[0];
  CHECK(r.method == "POST");
  CHECK(r.target == "/");
  CHECK(r.body == "Action=GetRole&Version=2010-05-08&RoleName=app");
  CHECK(r.header("X-Amz-Security-Token") == kSession);
  // The signature is the one sign_v4 computes for exactly what was sent.
  gtoken::aws::RequestToSign same;
  same.method = "POST";
  same.host = "127.0.0.1:" + std::to_string(server.port());
  same.path = "/";
  same.headers = {{"Content-Type", std::string(gtoken::aws::kIamContentType)}};
  same.payload = r.body;
  auto s = gtoken::aws::sign_v4(same, {"AKID1", kSecret, kSession}, {"us-east-1", "iam"},
                                clock->now());
  CHECK(r.header("Authorization") == s.authorization);
  CHECK(r.header("X-Amz-Date") == s.amz_date);
  CHECK(s.authorization.find("Credential=AKID1/") != std::string::npos);
  CHECK(s.authorization.find("/us-east-1/iam/aws4_request") != std::string::npos);
  CHECK(r.raw.find(kSecret) == std::string::npos);
}

TEST_CASE("IAM's errors: typed, with IAM's code, and no credential in what()") {
  std::string code;
  int status = 0;
  loopback::Server server([&](const loopback::Request&, size_t) { return http(status, error_xml(code)); });
  auto source = std::make_shared<CountingSource>();
  gtoken::aws::IamClient iam(server.url(), "us-east-1", source);
  struct Case {
    int status;
    const char* code;
    bool missing, denied, retryable;
  };
  for (const Case& c : {Case{404, "NoSuchEntity", true, false, false},
                        Case{403, "AccessDenied", false, true, false},
                        Case{400, "Throttling", false, false, true},
                        Case{503, "ServiceUnavailable", false, false, true}}) {
    code = c.code;
    status = c.status;
    CAPTURE(c.code);
    try {
      iam.get_role("app");
      FAIL("no error");
    } catch (const gtoken::aws::IamCallError& e) {
      CHECK(e.http() == c.status);
      CHECK(e.code() == c.code);
      CHECK(e.no_such_entity() == c.missing);
      CHECK(e.access_denied() == c.denied);
      CHECK(e.retryable() == c.retryable);
      const std::string what = e.what();
      CHECK(what.find("GetRole") != std::string::npos);
      CHECK(what.find(kSecret) == std::string::npos);
      CHECK(what.find(kSession) == std::string::npos);
    }
  }
  CHECK(source->invalidated == 0);  // none of these is about the session
}

TEST_CASE("an expired session: new credentials, sent once more; twice expired is an error") {
  int expired_answers = 1;
  loopback::Server server([&](const loopback::Request&, size_t) {
    if (expired_answers > 0) {
      --expired_answers;
      return http(403, error_xml("ExpiredToken"));
    }
    return http(200, kGetRole);
  });
  auto source = std::make_shared<CountingSource>();
  gtoken::aws::IamClient iam(server.url(), "us-east-1", source);
  CHECK(iam.get_role("app").path == "/gtoken/");
  CHECK(source->invalidated == 1);
  REQUIRE(server.requests().size() == 2);
  CHECK(server.requests()[0].header("Authorization").find("Credential=AKID1/") != std::string::npos);
  CHECK(server.requests()[1].header("Authorization").find("Credential=AKID2/") != std::string::npos);

  expired_answers = 2;
  CHECK_THROWS_AS(iam.get_role("app"), gtoken::aws::IamCallError);
  CHECK(source->invalidated == 2);
}

TEST_CASE("UpdateAssumeRolePolicy sends the document form-encoded") {
  loopback::Server server([](const loopback::Request&, size_t) {
    return http(200, "<UpdateAssumeRolePolicyResponse><ResponseMetadata><RequestId>r</RequestId>"
                     "</ResponseMetadata></UpdateAssumeRolePolicyResponse>");
  });
  gtoken::aws::IamClient iam(server.url(), "us-east-1", std::make_shared<CountingSource>());
  iam.update_assume_role_policy("app", R"({"a":"b c&d"})");
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].body ==
        "Action=UpdateAssumeRolePolicy&Version=2010-05-08&RoleName=app&PolicyDocument="
        "%7B%22a%22%3A%22b%20c%26d%22%7D");
}
