// gtoken-operator's command line: defaults, values, and the errors a person sees.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "operator/options.hpp"

namespace {

struct Parsed {
  bool ok;
  gtoken::OperatorOptions options;
  std::string error;
  std::string help;
};

Parsed parse(std::vector<std::string> args) {
  args.insert(args.begin(), "gtoken-operator");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  Parsed p;
  p.ok = gtoken::parse_operator_args(static_cast<int>(argv.size()), argv.data(), p.options,
                                     p.error, p.help);
  return p;
}

}  // namespace

TEST_CASE("defaults") {
  auto p = parse({});
  REQUIRE(p.ok);
  CHECK(p.options.resync == std::chrono::seconds(300));
  CHECK(p.options.workers == 16);
  CHECK(p.options.iam_read_qps == 80);
  CHECK(p.options.iam_write_qps == 8);
  CHECK(p.options.leader_elect);
  CHECK(p.options.controller);
  CHECK(p.options.iam_endpoint == "https://iam.googleapis.com");
  CHECK(p.options.default_audience == "gtoken/sts/assume-role-with-web-identity");
  CHECK(p.options.project.empty());
  CHECK(p.options.lease_duration > p.options.renew_deadline);
  CHECK(p.options.shutdown_delay == std::chrono::seconds(5));
  CHECK(p.options.renew_deadline == std::chrono::seconds(10));
  CHECK(p.options.retry_period == std::chrono::seconds(2));
  CHECK(p.options.deprecations.empty());
}

TEST_CASE("controller flags are read") {
  auto p =
      parse({"--project=my-project", "--iam-endpoint=http://127.0.0.1:9", "--resync=7s",
             "--workers", "9", "--leader-elect=false", "--lease-duration=4s", "--renew-deadline=3s",
             "--retry-period=1s", "--identity=me", "--default-audience=aud", "--log-level=debug",
             "--webhook=false", "--iam-read-qps=0", "--iam-write-qps=2.5", "--shutdown-delay=0s"});
  REQUIRE_MESSAGE(p.ok, p.error);
  CHECK(p.options.deprecations.empty());
  CHECK(p.options.shutdown_delay == std::chrono::seconds(0));
  CHECK(p.options.project == "my-project");
  CHECK(p.options.iam_endpoint == "http://127.0.0.1:9");
  CHECK(p.options.resync == std::chrono::seconds(7));
  CHECK(p.options.workers == 9);
  CHECK_FALSE(p.options.leader_elect);
  CHECK(p.options.lease_duration == std::chrono::seconds(4));
  CHECK(p.options.renew_deadline == std::chrono::seconds(3));
  CHECK(p.options.retry_period == std::chrono::seconds(1));
  CHECK(p.options.identity == "me");
  CHECK(p.options.default_audience == "aud");
  CHECK(p.options.log_level == kube::LogLevel::debug);
  CHECK_FALSE(p.options.webhook);
  CHECK(p.options.iam_read_qps == 0);
  CHECK(p.options.iam_write_qps == 2.5);
}

TEST_CASE("leader election and the drain take sub-second durations") {
  auto p = parse({"--lease-duration=2s", "--renew-deadline=1500ms", "--retry-period=500ms",
                  "--shutdown-delay=250ms"});
  REQUIRE_MESSAGE(p.ok, p.error);
  CHECK(p.options.lease_duration == std::chrono::seconds(2));
  CHECK(p.options.renew_deadline == std::chrono::milliseconds(1500));
  CHECK(p.options.retry_period == std::chrono::milliseconds(500));
  CHECK(p.options.shutdown_delay == std::chrono::milliseconds(250));
}

TEST_CASE("the old --X-seconds spellings still work, each noted as deprecated") {
  auto p =
      parse({"--resync-seconds=60", "--lease-duration-seconds=20", "--renew-deadline-seconds=12",
             "--retry-period-seconds=3", "--shutdown-delay-seconds=0"});
  REQUIRE_MESSAGE(p.ok, p.error);
  CHECK(p.options.resync == std::chrono::seconds(60));
  CHECK(p.options.lease_duration == std::chrono::seconds(20));
  CHECK(p.options.renew_deadline == std::chrono::seconds(12));
  CHECK(p.options.retry_period == std::chrono::seconds(3));
  CHECK(p.options.shutdown_delay == std::chrono::seconds(0));
  CHECK(p.options.webhook_args.empty());  // the operator's own, not the webhook's
  std::vector<std::string> messages;
  for (const auto& d : p.options.deprecations) messages.push_back(d.message());
  CHECK(messages == std::vector<std::string>{
                        "--resync-seconds=60 is deprecated; use --resync=1m",
                        "--lease-duration-seconds=20 is deprecated; use --lease-duration=20s",
                        "--renew-deadline-seconds=12 is deprecated; use --renew-deadline=12s",
                        "--retry-period-seconds=3 is deprecated; use --retry-period=3s",
                        "--shutdown-delay-seconds=0 is deprecated; use --shutdown-delay=0s"});

  // A new flag given a bare number of seconds: accepted the same way.
  auto bare = parse({"--resync=300"});
  REQUIRE_MESSAGE(bare.ok, bare.error);
  CHECK(bare.options.resync == std::chrono::seconds(300));
  REQUIRE(bare.options.deprecations.size() == 1);
  CHECK(bare.options.deprecations[0].message() == "--resync=300 is deprecated; use --resync=5m");
}

TEST_CASE("flags the operator does not know are left to the webhook") {
  auto p = parse({"--webhook-port=9443", "--operator-gsa=op@p.iam.gserviceaccount.com",
                  "--agent-image", "gtoken:dev"});
  REQUIRE_MESSAGE(p.ok, p.error);
  CHECK(p.options.operator_gsa == "op@p.iam.gserviceaccount.com");
  CHECK(p.options.webhook_args ==
        std::vector<std::string>{"--webhook-port=9443", "--agent-image", "gtoken:dev"});
}

TEST_CASE("--help prints usage and no error") {
  auto p = parse({"--help"});
  CHECK_FALSE(p.ok);
  CHECK(p.error.empty());
  CHECK(p.help.find("Usage: gtoken-operator") != std::string::npos);
  CHECK(p.help.find("--resync arg (=5m)") != std::string::npos);
  CHECK(p.help.find("--shutdown-delay arg (=5s)") != std::string::npos);
  CHECK(p.help.find("--resync-seconds") != std::string::npos);  // under the deprecated spellings
  CHECK(p.help.find("--leader-elect") != std::string::npos);
}

TEST_CASE("bad values are refused with a message that names the flag") {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{"--resync=0s"}, "--resync"},
      {{"--resync=-5s"}, "--resync"},
      {{"--resync=soon"}, "--resync"},
      {{"--resync=1500ms"}, "--resync must be a whole number of seconds"},
      {{"--workers=0"}, "--workers"},
      {{"--iam-write-qps=-1"}, "--iam-write-qps"},
      {{"--log-level=loud"}, "--log-level"},
      {{"--lease-duration=5s", "--renew-deadline=5s"}, "--renew-deadline"},
      {{"--lease-duration=5s", "--renew-deadline=9s"}, "--renew-deadline"},
      {{"--lease-duration=5500ms"}, "--lease-duration must be a whole number of seconds"},
      {{"--retry-period=0s"}, "--retry-period"},
      {{"--renew-deadline=3s", "--retry-period=3s"}, "--retry-period"},
      // The deprecated spellings: errors name the flag as it was given.
      {{"--resync-seconds=0"}, "--resync-seconds must be positive"},
      {{"--resync-seconds=-5"}, "--resync-seconds"},
      {{"--resync-seconds=soon"}, "resync-seconds"},
      {{"--lease-duration-seconds=5", "--renew-deadline-seconds=5"},
       "--renew-deadline-seconds must be shorter than --lease-duration-seconds"},
      {{"--retry-period-seconds=0"}, "--retry-period-seconds"},
      {{"--shutdown-delay-seconds=-1"}, "--shutdown-delay-seconds must be 0 or positive"},
      {{"--resync=1m", "--resync-seconds=60"}, "keep --resync"},
      {{"--workers=many"}, "workers"},
      {{"--leader-elect=perhaps"}, "leader-elect"},
      {{"--project"}, "project"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args[0]);
    auto p = parse(c.args);
    CHECK_FALSE(p.ok);
    CHECK(p.help.empty());
    CHECK_MESSAGE(p.error.find(c.expect) != std::string::npos, p.error);
  }
}

TEST_CASE("--oidc-issuer: an https URL AWS IAM can register, or refused naming the flag") {
  auto p = parse({"--oidc-issuer=https://container.googleapis.com/v1/projects/p/locations/l/clusters/c"});
  REQUIRE(p.ok);
  CHECK(p.options.oidc_issuer == "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c");
  CHECK(parse({}).options.oidc_issuer.empty());  // discovered from the apiserver
  for (const std::string bad :
       {"http://issuer.example", "https://", "https:///path", "https://issuer.example/?x=1",
        "https://issuer.example/#f", "https://user@issuer.example", "https://issuer example",
        "issuer.example"}) {
    CAPTURE(bad);
    auto q = parse({"--oidc-issuer=" + bad});
    CHECK_FALSE(q.ok);
    CHECK(q.error.find("--oidc-issuer") != std::string::npos);
  }
}

TEST_CASE("an issuer only a cluster resolves is one AWS cannot reach") {
  using gtoken::issuer_unreachable_from_aws;
  CHECK(issuer_unreachable_from_aws("https://kubernetes.default.svc.cluster.local"));
  CHECK(issuer_unreachable_from_aws("https://kubernetes.default.svc"));
  CHECK(issuer_unreachable_from_aws("https://kubernetes:6443/issuer"));
  CHECK(issuer_unreachable_from_aws("https://metadata.google.internal/x"));
  CHECK_FALSE(issuer_unreachable_from_aws(
      "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c"));
  CHECK_FALSE(issuer_unreachable_from_aws("https://oidc.example.com:8443/svc"));
}

TEST_CASE("the AWS side's flags: verify by default, credentials auto") {
  auto p = parse({});
  REQUIRE(p.ok);
  CHECK(p.options.aws.trust_policy == gtoken::TrustPolicyMode::Verify);
  CHECK(p.options.aws.credentials == gtoken::AwsCredentialsMode::Auto);
  CHECK(p.options.aws.audience == "gtoken-operator/aws");
  CHECK(p.options.aws.partition == "aws");

  auto gke = parse({"--aws-credentials=gke", "--aws-role-arn=arn:aws:iam::123456789012:role/gtoken-admin",
                    "--aws-sts-endpoint=http://127.0.0.1:9", "--aws-iam-endpoint=http://127.0.0.1:8",
                    "--aws-audience=aud", "--aws-trust-policy=off"});
  REQUIRE(gke.ok);
  CHECK(gke.options.aws.credentials == gtoken::AwsCredentialsMode::Gke);
  CHECK(gke.options.aws.role_arn == "arn:aws:iam::123456789012:role/gtoken-admin");
  CHECK(gke.options.aws.sts_endpoint == "http://127.0.0.1:9");
  CHECK(gke.options.aws.iam_endpoint == "http://127.0.0.1:8");
  CHECK(gke.options.aws.trust_policy == gtoken::TrustPolicyMode::Off);
  CHECK(gke.options.webhook_args.empty());
}

TEST_CASE("the AWS side's flags: what is refused, and why") {
  struct Case {
    std::vector<std::string> args;
    const char* error;
  };
  for (const Case& c : {
           Case{{"--aws-credentials=keys"}, "--aws-credentials must be"},
           Case{{"--aws-credentials=gke"}, "--aws-credentials=gke needs --aws-role-arn"},
           Case{{"--aws-role-arn=arn:aws-cn:iam::1:role/x"}, "partition aws"},
           Case{{"--aws-role-arn=arn:aws:iam::1:user/x"}, "must be a role ARN"},
           Case{{"--aws-partition=aws-mars"}, "--aws-partition must be"},
           Case{{"--aws-session-name=a b"}, "--aws-session-name"},
           Case{{"--aws-sts-endpoint=ftp://x"}, "--aws-sts-endpoint must be an http(s) URL"},
           Case{{"--aws-trust-policy=sometimes"}, "--aws-trust-policy must be"},
           Case{{"--aws-trust-policy=apply", "--aws-credentials=none"}, "needs AWS credentials"},
           Case{{"--aws-iam-role-path=gtoken"}, "--aws-iam-role-path must start and end with '/'"},
       }) {
    auto p = parse(c.args);
    CAPTURE(c.args[0]);
    CHECK_FALSE(p.ok);
    CHECK(p.error.find(c.error) != std::string::npos);
  }
}
