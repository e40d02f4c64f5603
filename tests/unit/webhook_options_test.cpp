#include "webhook/options.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

using gtoken::webhook::native_sidecars_from_version;
using gtoken::webhook::parse_webhook_options;
using gtoken::webhook::WebhookOptions;
using json = nlohmann::json;

TEST_CASE("auto picks native sidecars only where they cannot be turned off (GA, 1.33)") {
  auto v = [](const char* major, const char* minor) {
    return json{{"major", major}, {"minor", minor}, {"gitVersion", "v1.x"}};
  };
  CHECK(native_sidecars_from_version(v("1", "36")) == true);
  CHECK(native_sidecars_from_version(v("1", "33")) == true);
  CHECK(native_sidecars_from_version(v("1", "33+")) == true);  // GKE's "33+"
  // Beta (a gate a cluster may have off): the classic pair, which works everywhere.
  CHECK(native_sidecars_from_version(v("1", "32")) == false);
  CHECK(native_sidecars_from_version(v("1", "29+")) == false);
  CHECK(native_sidecars_from_version(v("1", "28")) == false);
  CHECK(native_sidecars_from_version(v("2", "0")) == true);
  // Unreadable answers are nobody's guess.
  CHECK_FALSE(native_sidecars_from_version(json::array()).has_value());
  CHECK_FALSE(native_sidecars_from_version(json{{"major", "1"}}).has_value());
  CHECK_FALSE(native_sidecars_from_version(v("1", "")).has_value());
  CHECK_FALSE(native_sidecars_from_version(json{{"major", 1}, {"minor", 36}}).has_value());
}

TEST_CASE("--native-sidecars takes auto, true or false") {
  for (const char* value : {"auto", "true", "false"}) {
    WebhookOptions o;
    std::string error;
    CHECK_MESSAGE(parse_webhook_options({std::string("--native-sidecars=") + value}, o, error),
                  error);
    CHECK(o.native_sidecars == value);
  }
  WebhookOptions o;
  std::string error;
  CHECK_FALSE(parse_webhook_options({"--native-sidecars=maybe"}, o, error));
  CHECK(error.find("--native-sidecars") != std::string::npos);
}

TEST_CASE("--aws-default-region takes a region name or nothing") {
  WebhookOptions o;
  std::string error;
  CHECK(parse_webhook_options({}, o, error));
  CHECK(o.aws_default_region.empty());
  CHECK_MESSAGE(parse_webhook_options({"--aws-default-region=eu-west-1"}, o, error), error);
  CHECK(o.aws_default_region == "eu-west-1");
  WebhookOptions bad;
  CHECK_FALSE(parse_webhook_options({"--aws-default-region=EU West"}, bad, error));
  CHECK(error.find("--aws-default-region") != std::string::npos);
}

TEST_CASE("duration flags take Go's syntax; their defaults are printed in it") {
  WebhookOptions o;
  std::string error;
  REQUIRE_MESSAGE(parse_webhook_options({"--cert-validity=1h30m", "--cert-lookahead=20m",
                                         "--ca-validity=8760h", "--ca-publish-delay=1s",
                                         "--webhook-io-timeout=2s", "--sa-lookup-timeout=750ms"},
                                        o, error),
                  error);
  CHECK(o.cert_validity == std::chrono::minutes(90));
  CHECK(o.cert_lookahead == std::chrono::minutes(20));
  CHECK(o.ca_validity == std::chrono::hours(8760));
  CHECK(o.ca_publish_delay == std::chrono::seconds(1));
  CHECK(o.io_timeout == std::chrono::seconds(2));
  CHECK(o.sa_lookup_timeout == std::chrono::milliseconds(750));
  CHECK(o.deprecations.empty());

  const std::string help = gtoken::webhook::webhook_options_help();
  CHECK(help.find("720h") != std::string::npos);   // --cert-validity, --ca-lookahead
  CHECK(help.find("168h") != std::string::npos);   // --cert-lookahead
  CHECK(help.find("8760h") != std::string::npos);  // --ca-validity
  CHECK(help.find("30d") == std::string::npos);
}

TEST_CASE("days and bare seconds still work, each noted as deprecated") {
  WebhookOptions o;
  std::string error;
  REQUIRE_MESSAGE(parse_webhook_options({"--cert-validity=30d", "--ca-retire-grace=90"}, o, error),
                  error);
  CHECK(o.cert_validity == std::chrono::hours(720));
  CHECK(o.ca_retire_grace == std::chrono::seconds(90));
  REQUIRE(o.deprecations.size() == 2);
  CHECK(o.deprecations[0].message() ==
        "--cert-validity=30d is deprecated; use --cert-validity=720h");
  CHECK(o.deprecations[1].message() ==
        "--ca-retire-grace=90 is deprecated; use --ca-retire-grace=1m30s");
}

TEST_CASE("a bad duration is refused with a message that names the flag") {
  struct Case {
    const char* arg;
    const char* expect;
  };
  for (const Case& c : {Case{"--cert-validity=soon", "--cert-validity"},
                        Case{"--ca-lookahead=-1h", "--ca-lookahead"},
                        Case{"--cert-validity=1500ms", "whole number of seconds"},
                        Case{"--webhook-io-timeout=0s", "--webhook-io-timeout"},
                        Case{"--webhook-replica-lease-duration=2s", "at least 3s"},
                        Case{"--sa-lookup-timeout=0s", "--sa-lookup-timeout"}}) {
    CAPTURE(c.arg);
    WebhookOptions o;
    std::string error;
    CHECK_FALSE(parse_webhook_options({c.arg}, o, error));
    CHECK_MESSAGE(error.find(c.expect) != std::string::npos, error);
  }
}
