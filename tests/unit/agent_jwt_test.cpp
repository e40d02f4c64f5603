#include <doctest/doctest.h>

#include "agent/jwt.hpp"
#include "agent/testing/fakes.hpp"

using namespace gtoken::agent;
using namespace std::chrono_literals;
using gtoken::agent::testing::make_jwt;

namespace {
TimePoint at(long long unix_s) {
  return TimePoint{} + std::chrono::seconds(unix_s);
}
std::string b64(const std::string& s) {
  return base64url_encode(s);
}
std::string header_b64() {
  return b64(R"({"alg":"RS256","typ":"JWT"})");
}
std::string sig_b64() {
  return b64("signature");
}
std::string with_payload(const std::string& payload_json) {
  return header_b64() + "." + b64(payload_json) + "." + sig_b64();
}
}  // namespace

TEST_CASE("base64url round trip, with and without padding") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    auto enc = base64url_encode(s);
    CHECK(enc.find('=') == std::string::npos);
    CHECK(enc.find('+') == std::string::npos);
    CHECK(enc.find('/') == std::string::npos);
    REQUIRE(base64url_decode(enc));
    CHECK(*base64url_decode(enc) == s);
  }
  CHECK(*base64url_decode("Zm9vYg==") == "foob");
  CHECK(*base64url_decode("-_8") == "\xfb\xff");
  CHECK_FALSE(base64url_decode("Zm9v+g"));   // '+' is standard base64, not url
  CHECK_FALSE(base64url_decode("Zm9v Yg"));  // whitespace
  CHECK_FALSE(base64url_decode("Z"));        // impossible length
  CHECK_FALSE(base64url_decode("Zm=9v"));    // padding in the middle
}

TEST_CASE("a good token gives exp and iat") {
  auto tok = make_jwt(at(1700000000), at(1700003600));
  std::string why;
  auto t = parse_jwt_times(tok, &why);
  REQUIRE(t);
  CHECK(why.empty());
  CHECK(t->exp == at(1700003600));
  REQUIRE(t->iat);
  CHECK(*t->iat == at(1700000000));
}

TEST_CASE("fractional exp and missing iat are accepted") {
  auto t = parse_jwt_times(with_payload(R"({"exp":1700003600.5})"));
  REQUIRE(t);
  CHECK(t->exp == at(1700003600) + 500ms);
  CHECK_FALSE(t->iat);
  // A non-numeric iat is ignored, not fatal: exp alone drives the schedule.
  auto t2 = parse_jwt_times(with_payload(R"({"exp":1700003600,"iat":"yesterday"})"));
  REQUIRE(t2);
  CHECK_FALSE(t2->iat);
}

TEST_CASE("aud: a string, an array of strings, or nothing") {
  auto t = parse_jwt_times(with_payload(R"({"exp":1700003600,"aud":"sts.amazonaws.com"})"));
  REQUIRE(t);
  CHECK(t->aud == std::vector<std::string>{"sts.amazonaws.com"});
  CHECK(has_audience(*t, "sts.amazonaws.com"));
  CHECK_FALSE(has_audience(*t, "sts.amazonaws.co"));
  CHECK_FALSE(has_audience(*t, ""));

  auto arr = parse_jwt_times(with_payload(R"({"exp":1700003600,"aud":["a",7,"b"]})"));
  REQUIRE(arr);
  CHECK(arr->aud == std::vector<std::string>{"a", "b"});  // non-strings ignored
  CHECK(has_audience(*arr, "b"));

  for (const char* payload : {R"({"exp":1700003600})", R"({"exp":1700003600,"aud":null})",
                              R"({"exp":1700003600,"aud":{"a":1}})",
                              R"({"exp":1700003600,"aud":""})"}) {
    CAPTURE(payload);
    auto none = parse_jwt_times(with_payload(payload));
    REQUIRE(none);  // aud is checked by the refresher, not by parsing
    CHECK_FALSE(has_audience(*none, "a"));
    CHECK_FALSE(has_audience(*none, ""));
  }
}

TEST_CASE("missing or bad exp is refused") {
  std::string why;
  CHECK_FALSE(parse_jwt_times(with_payload(R"({"iat":1700000000})"), &why));
  CHECK(why == "JWT has no exp claim");
  CHECK_FALSE(parse_jwt_times(with_payload(R"({"exp":"1700003600"})"), &why));
  CHECK(why.find("NumericDate") != std::string::npos);
  CHECK_FALSE(parse_jwt_times(with_payload(R"({"exp":-5})"), &why));
  CHECK_FALSE(parse_jwt_times(with_payload(R"({"exp":1e300})"), &why));
  CHECK_FALSE(parse_jwt_times(with_payload(R"({"exp":null})"), &why));
}

TEST_CASE("malformed tokens are refused with a reason that does not quote them") {
  const std::string good = make_jwt(at(1700000000), at(1700003600));
  const std::vector<std::string> bad = {
      "",
      "not-a-jwt",
      header_b64() + "." + b64(R"({"exp":1})"),                            // two segments
      good + ".extra",                                                     // four segments
      header_b64() + "." + b64(R"({"exp":1700003600})") + ".",             // unsigned
      "." + b64(R"({"exp":1700003600})") + "." + sig_b64(),                // empty header
      header_b64() + ".." + sig_b64(),                                     // empty payload
      header_b64() + "." + b64("[1,2,3]") + "." + sig_b64(),               // payload not an object
      header_b64() + "." + b64("{\"exp\":") + "." + sig_b64(),             // payload not JSON
      header_b64() + ".%%%." + sig_b64(),                                  // payload not base64url
      b64("nope") + "." + b64(R"({"exp":1700003600})") + "." + sig_b64(),  // header not JSON
      header_b64() + "." + b64(R"({"exp":1700003600})") + ".si+g",  // signature not base64url
      good + "\n",                                                  // trailing newline
      " " + good,
      header_b64() + "." + b64(R"({"exp":1700003600,"pad":")" + std::string(20000, 'x') + "\"}") +
          "." + sig_b64(),
  };
  for (const auto& tok : bad) {
    std::string why;
    CAPTURE(tok.substr(0, 60));
    CHECK_FALSE(parse_jwt_times(tok, &why));
    CHECK_FALSE(why.empty());
    if (tok.size() > 10) {
      CHECK(why.find(tok) == std::string::npos);
    }
  }
}

TEST_CASE("format_time is RFC 3339 UTC") {
  CHECK(format_rfc3339(at(0)) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(at(1700000000)) == "2023-11-14T22:13:20Z");
}
