#include <doctest/doctest.h>

#include "agent/options.hpp"
#include "agent/sts_probe.hpp"

using namespace gtoken::agent;

namespace {

// The answer's shape as STS sends it (query API, Version 2011-06-15).
const char* kSuccess =
    R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>1122334455</SubjectFromWebIdentityToken>
    <Audience>gtoken/sts/assume-role-with-web-identity</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/uploader/jobs.app-x</Arn>
      <AssumedRoleId>AROAEXAMPLEID:jobs.app-x</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>IQoJb3JpZ2luX2VjEXAMPLESESSION</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>
      <Expiration>2026-12-02T07:30:00Z</Expiration>
      <AccessKeyId>ASIAEXAMPLEKEYID1234</AccessKeyId>
    </Credentials>
    <Provider>accounts.google.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";

std::optional<std::string> no_env(const std::string&) {
  return std::nullopt;
}

}  // namespace

TEST_CASE("a successful answer gives the assumed role, never the credentials") {
  const auto v = sts_answer(200, kSuccess);
  CHECK(v["ok"] == true);
  CHECK(v["arn"] == "arn:aws:sts::123456789012:assumed-role/uploader/jobs.app-x");
  CHECK(v["assumedRoleId"] == "AROAEXAMPLEID:jobs.app-x");
  CHECK(v["expiration"] == "2026-12-02T07:30:00Z");
  CHECK(v["subject"] == "1122334455");
  const std::string printed = v.dump();
  for (const char* secret :
       {"IQoJb3JpZ2luX2VjEXAMPLESESSION", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "ASIAEXAMPLEKEYID1234", "AccessKeyId", "SecretAccessKey", "SessionToken"}) {
    CHECK(printed.find(secret) == std::string::npos);
  }
}

TEST_CASE("an ErrorResponse gives AWS's exact code and message") {
  const auto v =
      sts_answer(403, R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>
  </Error>
  <RequestId>7d1b2f7e-0000</RequestId>
</ErrorResponse>)");
  CHECK(v["ok"] == false);
  CHECK(v["code"] == "AccessDenied");
  CHECK(v["message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity");
  CHECK(v["status"] == 403);
  CHECK_FALSE(v.contains("error"));

  const auto e = sts_answer(400,
                            "<ErrorResponse><Error><Code>InvalidIdentityToken</Code>"
                            "<Message>Couldn&apos;t retrieve verification key from your "
                            "identity provider</Message></Error></ErrorResponse>");
  CHECK(e["code"] == "InvalidIdentityToken");
  CHECK(e["message"] == "Couldn't retrieve verification key from your identity provider");
}

TEST_CASE("answers that are neither: an error naming the status, a 2xx body never quoted") {
  const auto html = sts_answer(502, "<html><body>Bad gateway</body></html>");
  CHECK(html["ok"] == false);
  CHECK(html["status"] == 502);
  CHECK(html["error"].get<std::string>().find("<html>") != std::string::npos);

  const auto text = sts_answer(503, "upstream connect error");
  CHECK(text["error"].get<std::string>().find("not XML: upstream connect error") !=
        std::string::npos);

  // A truncated success (credentials in it, no closing tags): not quoted.
  const std::string cut =
      std::string(kSuccess).substr(0, std::string(kSuccess).find("</Credentials>"));
  const auto broken = sts_answer(200, cut);
  CHECK(broken["ok"] == false);
  CHECK(broken["error"].get<std::string>().find("wJalrXUtnFEMI") == std::string::npos);
  CHECK(broken.dump().find("ASIAEXAMPLE") == std::string::npos);

  const auto no_user =
      sts_answer(200,
                 "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                 "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
  CHECK(no_user["ok"] == false);
  CHECK(no_user["error"].get<std::string>().find("without an AssumedRoleUser Arn") !=
        std::string::npos);
}

TEST_CASE("the form: the query API's fields, AWS-percent-encoded") {
  const std::string f =
      web_identity_form("arn:aws:iam::123456789012:role/path/up", "ns.pod-1", "aa.bb_cc.dd+/=");
  CHECK(f ==
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
        "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpath%2Fup"
        "&RoleSessionName=ns.pod-1&WebIdentityToken=aa.bb_cc.dd%2B%2F%3D&DurationSeconds=900");
}

TEST_CASE("session names: STS's rule") {
  CHECK(valid_session_name("gtoken-probe"));
  CHECK(valid_session_name("a.b@c,d=e+f_g-h"));
  CHECK_FALSE(valid_session_name("a"));
  CHECK_FALSE(valid_session_name(std::string(65, 'a')));
  CHECK(valid_session_name(std::string(64, 'a')));
  CHECK_FALSE(valid_session_name("has space"));
  CHECK_FALSE(valid_session_name("slash/no"));
}

TEST_CASE("probe --sts options") {
  auto p = parse_options({"probe", "--sts", "--file=/t", "--role-arn", "arn:aws:iam::1:role/r",
                          "--sts-endpoint=http://127.0.0.1:9", "--session-name=doc"},
                         no_env);
  REQUIRE(p.options);
  CHECK(p.options->mode == Mode::probe);
  CHECK(p.options->probe_sts);
  CHECK(p.options->role_arn == "arn:aws:iam::1:role/r");
  CHECK(p.options->sts_endpoint == "http://127.0.0.1:9");
  CHECK(p.options->session_name == "doc");

  auto d =
      parse_options({"probe", "--sts", "--file=/t", "--role-arn=arn:aws:iam::1:role/r"}, no_env);
  REQUIRE(d.options);
  CHECK(d.options->sts_endpoint == kDefaultStsEndpoint);
  CHECK(d.options->session_name == kDefaultStsSessionName);

  CHECK_FALSE(parse_options({"probe", "--sts", "--file=/t"}, no_env).options);  // no role
  CHECK_FALSE(
      parse_options({"probe", "--sts", "--claims", "--file=/t", "--role-arn=arn:aws:iam::1:role/r"},
                    no_env)
          .options);
  CHECK_FALSE(parse_options({"probe", "--sts", "--file=/t", "--role-arn=arn:aws:iam::1:role/r",
                             "--sts-endpoint=ftp://x"},
                            no_env)
                  .options);
  CHECK_FALSE(parse_options({"probe", "--sts", "--file=/t", "--role-arn=arn:aws:iam::1:role/r",
                             "--session-name=a b"},
                            no_env)
                  .options);
  // The STS flags mean nothing without --sts, and nothing to the agent.
  CHECK_FALSE(
      parse_options({"probe", "--file=/t", "--role-arn=arn:aws:iam::1:role/r"}, no_env).options);
  CHECK_FALSE(parse_options({"--audience=a", "--role-arn=arn:aws:iam::1:role/r"}, no_env).options);
}
