#include <doctest/doctest.h>

#include "agent/claims.hpp"
#include "agent/testing/fakes.hpp"

using namespace gtoken::agent;
using namespace std::chrono_literals;

namespace {

constexpr TimePoint kNow = TimePoint{} + std::chrono::seconds(1700000000);
constexpr long long kNowS = 1700000000;

}  // namespace

TEST_CASE("claims of a Google ID token: the fields a trust policy reads, never the token") {
  const std::string token = testing::make_jwt({{"iss", "https://accounts.google.com"},
                                               {"aud", "gtoken/sts/assume-role-with-web-identity"},
                                               {"azp", "1122334455"},
                                               {"sub", "1122334455"},
                                               {"email", "up@p.iam.gserviceaccount.com"},
                                               {"email_verified", true},
                                               {"iat", kNowS - 60},
                                               {"exp", kNowS + 3540}});
  auto c = token_claims(token, kNow);
  REQUIRE(c);
  CHECK((*c)["iss"] == "https://accounts.google.com");
  CHECK((*c)["aud"] == "gtoken/sts/assume-role-with-web-identity");
  CHECK((*c)["azp"] == "1122334455");
  CHECK((*c)["sub"] == "1122334455");
  CHECK((*c)["email"] == "up@p.iam.gserviceaccount.com");
  CHECK((*c)["exp"] == kNowS + 3540);
  CHECK((*c)["iat"] == kNowS - 60);
  CHECK((*c)["expires_in_s"] == 3540);
  CHECK((*c)["valid"] == true);
  CHECK_FALSE(c->contains("email_verified"));
  const std::string out = c->dump();
  // No segment of the token appears in what is printed.
  for (size_t start = 0, dot; start < token.size(); start = dot + 1) {
    dot = token.find('.', start);
    if (dot == std::string::npos) {
      dot = token.size();
    }
    CHECK(out.find(token.substr(start, dot - start)) == std::string::npos);
  }
}

TEST_CASE("claims keep an array audience and leave out claims of other types") {
  auto c = token_claims(testing::make_jwt({{"iss", "https://kubernetes.default.svc"},
                                           {"aud", {"sts.amazonaws.com", 7, "other"}},
                                           {"sub", "system:serviceaccount:ns:sa"},
                                           {"email", 42},
                                           {"exp", kNowS + 10}}),
                        kNow);
  REQUIRE(c);
  CHECK((*c)["aud"] == nlohmann::json::array({"sts.amazonaws.com", "other"}));
  CHECK_FALSE(c->contains("email"));
  CHECK_FALSE(c->contains("azp"));
  CHECK_FALSE(c->contains("iat"));
  CHECK((*c)["sub"] == "system:serviceaccount:ns:sa");
}

TEST_CASE("an expired token still shows its claims, marked invalid") {
  auto c = token_claims(testing::make_jwt(kNow - 2h, kNow - 1h), kNow);
  REQUIRE(c);
  CHECK((*c)["valid"] == false);
  CHECK((*c)["expires_in_s"] == -3600);
}

TEST_CASE("what is not a token gives a reason that does not quote it") {
  std::string why;
  CHECK_FALSE(token_claims("secret-looking-garbage", kNow, &why));
  CHECK(why.find("not a JWT") != std::string::npos);
  CHECK(why.find("secret") == std::string::npos);
  CHECK_FALSE(token_claims(testing::make_jwt({{"sub", "x"}}), kNow, &why));
  CHECK(why.find("exp") != std::string::npos);
}
