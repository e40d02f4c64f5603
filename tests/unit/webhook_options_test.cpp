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
