#include <doctest/doctest.h>

#include <map>

#include "agent/options.hpp"

using namespace gtoken::agent;
using namespace std::chrono_literals;

namespace {

ParseResult parse(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& envs = {}) {
  return parse_options(args, [envs](const std::string& n) -> std::optional<std::string> {
    auto it = envs.find(n);
    if (it == envs.end()) {
      return std::nullopt;
    }
    return it->second;
  });
}

Options ok(std::vector<std::string> args, std::map<std::string, std::string> envs = {}) {
  auto r = parse(args, envs);
  INFO(r.error);
  REQUIRE(r.options);
  return *r.options;
}

std::string error_of(std::vector<std::string> args, std::map<std::string, std::string> envs = {}) {
  auto r = parse(args, envs);
  REQUIRE_FALSE(r.options);
  return r.error;
}

}  // namespace

TEST_CASE("defaults: one-shot to stdout from the metadata server") {
  Options o = ok({"--audience", "sts.amazonaws.com"});
  CHECK(o.mode == Mode::once);
  CHECK(o.file.empty());
  CHECK(o.audience == "sts.amazonaws.com");
  CHECK(o.metadata_host == "169.254.169.254");
  CHECK(o.iam_endpoint == "https://iamcredentials.googleapis.com");
  CHECK(o.gcp_service_account.empty());
  CHECK(o.file_mode == 0644);
  CHECK(o.once_timeout == 60s);
  CHECK(o.request_timeout == 10s);
  CHECK(o.log_level == kube::LogLevel::info);
  CHECK(o.policy.keep_fraction == doctest::Approx(0.4));
  CHECK(o.policy.keep_duration == 0ms);
}

TEST_CASE("seed-compatible flags: --file, --refresh, and the Go single-dash forms") {
  Options a = ok({"--file", "/var/run/secrets/aws/token/gtoken", "--refresh", "--audience", "a"});
  CHECK(a.mode == Mode::refresh);
  CHECK(a.file == "/var/run/secrets/aws/token/gtoken");
  Options b = ok({"-file=/t", "-refresh", "-audience=a"});
  CHECK(b.mode == Mode::refresh);
  CHECK(b.file == "/t");
  Options c = ok({"--refresh=false", "--audience", "a"});
  CHECK(c.mode == Mode::once);
  Options d = ok({"--refresh=true", "--audience=a"});
  CHECK(d.mode == Mode::refresh);
}

TEST_CASE("--once is the explicit one-shot and excludes --refresh") {
  CHECK(ok({"--once", "--audience", "a"}).mode == Mode::once);
  CHECK(error_of({"--once", "--refresh", "--audience", "a"}).find("exclude") != std::string::npos);
}

TEST_CASE("audience: flag, env, flag wins, required") {
  CHECK(ok({}, {{"GTOKEN_AUDIENCE", "from-env"}}).audience == "from-env");
  CHECK(ok({"--audience", "flag"}, {{"GTOKEN_AUDIENCE", "env"}}).audience == "flag");
  CHECK(error_of({}).find("audience") != std::string::npos);
  CHECK(error_of({"--audience", ""}).find("audience") != std::string::npos);
}

TEST_CASE("GCE_METADATA_HOST overrides the metadata address; the default name maps to the IP") {
  CHECK(ok({"--audience", "a"}, {{"GCE_METADATA_HOST", "127.0.0.1:8080"}}).metadata_host ==
        "127.0.0.1:8080");
  CHECK(
      ok({"--audience", "a"}, {{"GCE_METADATA_HOST", "metadata.google.internal"}}).metadata_host ==
      "169.254.169.254");
}

TEST_CASE("IAM path flags and env") {
  Options o = ok({"--audience", "a", "--gcp-service-account", "app@proj.iam.gserviceaccount.com",
                  "--iam-endpoint", "http://127.0.0.1:9000"});
  CHECK(o.gcp_service_account == "app@proj.iam.gserviceaccount.com");
  CHECK(o.iam_endpoint == "http://127.0.0.1:9000");
  Options e =
      ok({"--audience", "a"}, {{"GTOKEN_IAM_ENDPOINT", "http://127.0.0.1:1"},
                               {"GTOKEN_GCP_SERVICE_ACCOUNT", "x@y.iam.gserviceaccount.com"}});
  CHECK(e.iam_endpoint == "http://127.0.0.1:1");
  CHECK(e.gcp_service_account == "x@y.iam.gserviceaccount.com");
  CHECK(error_of({"--audience", "a", "--gcp-service-account", "not an email"}).find("email") !=
        std::string::npos);
  CHECK(error_of({"--audience", "a", "--gcp-service-account", "a/b@c"}).find("email") !=
        std::string::npos);
  CHECK(error_of({"--audience", "a", "--iam-endpoint", "ftp://x"}).find("https://") !=
        std::string::npos);
}

TEST_CASE("--file-mode is octal") {
  CHECK(ok({"--audience", "a", "--file-mode", "0640"}).file_mode == 0640);
  CHECK(ok({"--audience", "a", "--file-mode=600"}).file_mode == 0600);
  CHECK_FALSE(parse({"--audience", "a", "--file-mode", "0844"}).options);
  CHECK_FALSE(parse({"--audience", "a", "--file-mode", "rw-r--r--"}).options);
  CHECK_FALSE(parse({"--audience", "a", "--file-mode", "01777"}).options);
}

TEST_CASE("--refresh-before: fraction, percent, or duration") {
  auto p1 = ok({"--audience", "a", "--refresh-before", "0.25"}).policy;
  CHECK(p1.keep_fraction == doctest::Approx(0.25));
  CHECK(p1.keep_duration == 0ms);
  auto p2 = ok({"--audience", "a", "--refresh-before", "30%"}).policy;
  CHECK(p2.keep_fraction == doctest::Approx(0.3));
  auto p3 = ok({"--audience", "a", "--refresh-before", "20m"}).policy;
  CHECK(p3.keep_duration == 20min);
  for (const char* bad : {"0", "1", "1.5", "150%", "abc", "0s", "-0.2", ""}) {
    CAPTURE(bad);
    CHECK_FALSE(parse({"--audience", "a", "--refresh-before", bad}).options);
  }
}

TEST_CASE("durations and log level") {
  Options o = ok({"--audience", "a", "--once-timeout", "2m", "--request-timeout", "1500ms",
                  "--log-level", "debug"});
  CHECK(o.once_timeout == 120s);
  CHECK(o.request_timeout == 1500ms);
  CHECK(o.log_level == kube::LogLevel::debug);
  CHECK(o.deprecations.empty());
  CHECK(ok({"--audience", "a"}, {{"GTOKEN_LOG_LEVEL", "warn"}}).log_level == kube::LogLevel::warn);
  CHECK_FALSE(parse({"--audience", "a", "--once-timeout", "soon"}).options);
  CHECK_FALSE(parse({"--audience", "a", "--request-timeout", "0s"}).options);
  CHECK_FALSE(parse({"--audience", "a", "--log-level", "loud"}).options);
  CHECK_FALSE(parse({"--audience", "a"}, {{"GTOKEN_LOG_LEVEL", "loud"}}).options);
}

TEST_CASE("probe subcommand") {
  Options o = ok({"probe", "--file", "/t/gtoken"});
  CHECK(o.mode == Mode::probe);
  CHECK(o.file == "/t/gtoken");
  CHECK(o.min_validity == 10s);
  CHECK(ok({"probe", "--file=/t", "--min-validity", "5m"}).min_validity == 5min);
  // A bare number is still seconds (the spelling of earlier releases), noted
  // as deprecated: main_entry logs it as a warning naming --min-validity=30s.
  const Options bare = ok({"probe", "-file", "/t", "-min-validity=30"});
  CHECK(bare.min_validity == 30s);
  REQUIRE(bare.deprecations.size() == 1);
  CHECK(bare.deprecations[0].given == "--min-validity=30");
  CHECK(bare.deprecations[0].use == "--min-validity=30s");
  // No audience needed to probe.
  CHECK(error_of({"probe"}).find("--file") != std::string::npos);
  CHECK(error_of({"probe", "--file", "/t", "--refresh"}).find("not valid for probe") !=
        std::string::npos);
  CHECK(error_of({"--audience", "a", "--min-validity", "5s"}).find("only valid for probe") !=
        std::string::npos);
  CHECK(error_of({"--audience", "a", "probe"}).find("must come first") != std::string::npos);
  // --claims: probe only.
  CHECK_FALSE(o.probe_claims);
  CHECK(ok({"probe", "--file", "/t", "--claims"}).probe_claims);
  CHECK_FALSE(ok({"probe", "--file", "/t", "--claims=false"}).probe_claims);
  CHECK(error_of({"--audience", "a", "--claims"}).find("only valid for probe") !=
        std::string::npos);
}

TEST_CASE("version and help need no audience") {
  CHECK(ok({"--version"}).mode == Mode::version);
  CHECK(ok({"--help"}).mode == Mode::help);
  CHECK(ok({"-h"}).mode == Mode::help);
  CHECK(version_string().rfind("gtoken ", 0) == 0);
  CHECK(usage().find("--refresh-before") != std::string::npos);
}

TEST_CASE("bad command lines") {
  CHECK(error_of({"--audience", "a", "--bogus"}).find("unknown flag --bogus") != std::string::npos);
  CHECK(error_of({"--audience"}).find("needs a value") != std::string::npos);
  CHECK(error_of({"--audience", "a", "stray"}).find("unexpected argument") != std::string::npos);
  CHECK(error_of({"--audience", "a", "--refresh=maybe"}).find("boolean") != std::string::npos);
  CHECK(error_of({"--audience", "a", "--file", ""}).find("empty") != std::string::npos);
}
