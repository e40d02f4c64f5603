// kube/duration: the one duration syntax of every gtoken flag (Go's), the
// spellings earlier releases took, and the shortest spelling back.
#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kube/duration.hpp"

using namespace std::chrono_literals;
using kube::format_duration;
using kube::parse_duration;

namespace {

struct Flag {
  std::optional<std::chrono::milliseconds> value;
  std::vector<kube::FlagDeprecation> deprecations;
};

Flag flag(std::string_view text) {
  Flag f;
  f.value = kube::parse_duration_flag("--x", text, f.deprecations);
  return f;
}

}  // namespace

TEST_CASE("Go's syntax: numbers with units, fractions, sequences") {
  CHECK(parse_duration("60s") == 60s);
  CHECK(parse_duration("1m30s") == 90s);
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("1.5h") == 90min);
  CHECK(parse_duration("0") == 0s);
  CHECK(parse_duration("0s") == 0s);
  CHECK(parse_duration("2h0m1s") == 7201s);
  CHECK(parse_duration("720h") == 720h);
  CHECK(parse_duration("1h30m") == 90min);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration(".5s") == 500ms);
  CHECK(parse_duration("1.s") == 1s);
  CHECK(parse_duration("1s500ms") == 1500ms);
  CHECK(parse_duration("0.1s") == 100ms);      // exact, no binary fraction error
  CHECK(parse_duration("1.0005s") == 1001ms);  // halves round up
  CHECK(parse_duration("1.0004999s") == 1000ms);
  CHECK(parse_duration("0.000000000000000000001h") == 0ms);  // digits past the 18th count as 0
}

TEST_CASE("what is not a duration") {
  for (const char* bad : {"",
                          "s",
                          "ms",
                          ".",
                          ".s",
                          "10x",
                          "10s5",
                          "-1s",
                          "+1s",
                          "1.2.3s",
                          "1 s",
                          " 1s",
                          "1s ",
                          "1d",
                          "30d",
                          "10",
                          "1.5",
                          "1e3s",
                          "1S",
                          "1H",
                          "1us",
                          "1ns",
                          "9999999999999999999s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}

TEST_CASE("at most 100 years") {
  CHECK(parse_duration("876000h") == kube::kMaxFlagDuration);
  CHECK_FALSE(parse_duration("876001h"));
  CHECK_FALSE(parse_duration("876000h1ms"));
  CHECK_FALSE(parse_duration("999999999999999999h"));
  CHECK(parse_duration("99999h") == 99999h);  // 11 years: a long CA, not an error
}

TEST_CASE("format_duration writes the shortest spelling that parses back") {
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(500ms) == "500ms");
  CHECK(format_duration(1500ms) == "1s500ms");
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(5min) == "5m");
  CHECK(format_duration(90min) == "1h30m");
  CHECK(format_duration(720h) == "720h");
  CHECK(format_duration(8760h) == "8760h");
  CHECK(format_duration(-5s) == "-5s");
  for (std::chrono::milliseconds d : {1ms, 999ms, 1000ms, 61000ms, 3601000ms, 86400001ms}) {
    CAPTURE(d.count());
    CHECK(parse_duration(format_duration(d)) == d);
  }
}

TEST_CASE("whole_seconds refuses a fraction of a second") {
  CHECK(kube::whole_seconds(90s) == 90s);
  CHECK(kube::whole_seconds(0ms) == 0s);
  CHECK_FALSE(kube::whole_seconds(1500ms));
}

TEST_CASE("a flag takes the one syntax without a deprecation") {
  const auto f = flag("1h30m");
  CHECK(f.value == 90min);
  CHECK(f.deprecations.empty());
  CHECK(flag("0").deprecations.empty());
}

TEST_CASE("old spellings still work, each with a deprecation naming the new one") {
  SUBCASE("a bare number of seconds (the agent, the webhook)") {
    const auto f = flag("90");
    CHECK(f.value == 90s);
    REQUIRE(f.deprecations.size() == 1);
    CHECK(f.deprecations[0].given == "--x=90");
    CHECK(f.deprecations[0].use == "--x=1m30s");
    CHECK(f.deprecations[0].message() == "--x=90 is deprecated; use --x=1m30s");
    CHECK(flag("1.5").value == 1500ms);
    CHECK(flag("10").value == 10s);
  }
  SUBCASE("whole days (the webhook's certificate lifetimes)") {
    const auto f = flag("30d");
    CHECK(f.value == 720h);
    REQUIRE(f.deprecations.size() == 1);
    CHECK(f.deprecations[0].use == "--x=720h");
    CHECK(flag("365d").value == 8760h);
    CHECK(flag("0d").value == 0s);
  }
  SUBCASE("still refused") {
    for (const char* bad : {"", "d", "1.5d", "-1d", "1h2d", "x", "90 ", "-5", "36501d"}) {
      CAPTURE(bad);
      const auto f = flag(bad);
      CHECK_FALSE(f.value);
      CHECK(f.deprecations.empty());
    }
  }
}

TEST_CASE("warn_deprecated logs one warning per spelling") {
  std::vector<std::string> lines;
  kube::Logger log(kube::LogLevel::info, [&](std::string_view l) { lines.emplace_back(l); });
  kube::warn_deprecated(log, {{"--a-seconds=5", "--a=5s"}, {"--b=30d", "--b=720h"}});
  REQUIRE(lines.size() == 2);
  const auto j = nlohmann::json::parse(lines[0]);
  CHECK(j["level"] == "warn");
  CHECK(j["msg"] == "--a-seconds=5 is deprecated; use --a=5s");
  CHECK(j["deprecated"] == "--a-seconds=5");
  CHECK(j["use"] == "--a=5s");
}

TEST_CASE("to_seconds keeps milliseconds for log fields") {
  CHECK(kube::to_seconds(1500ms) == doctest::Approx(1.5));
  CHECK(kube::to_seconds(std::chrono::nanoseconds(1'234'567'890)) == 1.235);
  CHECK(kube::to_seconds(0s) == 0);
}

TEST_CASE("round_half_away rounds halves away from zero, without libm") {
  CHECK(kube::round_half_away(0.5) == 1);
  CHECK(kube::round_half_away(0.49) == 0);
  CHECK(kube::round_half_away(-0.5) == -1);
  CHECK(kube::round_half_away(-1.49) == -1);
  CHECK(kube::round_half_away(2.0) == 2);
}
