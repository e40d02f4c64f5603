// Reading a trust policy document into statements, and its typed errors.
#include <doctest/doctest.h>

#include <string>

#include "aws/trust_policy.hpp"

using namespace gtoken::aws;
using Kind = TrustPolicyError::Kind;

namespace {

Kind error_of(const std::string& text) {
  try {
    parse_trust_policy(text);
  } catch (const TrustPolicyError& e) {
    return e.kind;
  }
  FAIL("no TrustPolicyError for " << text);
  return Kind::NotJson;
}

std::string with_statement(const std::string& st) {
  return R"({"Version":"2012-10-17","Statement":[)" + st + "]}";
}

}  // namespace

TEST_CASE("a statement list and a lone statement") {
  const auto list = parse_trust_policy(with_statement(
      R"({"Sid":"A","Effect":"Allow","Principal":{"Federated":["accounts.google.com","x"]},)"
      R"("Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],)"
      R"("Condition":{"StringEquals":{"k1":"v","k2":["a",1,true]},"Null":{"k3":"false"}}},)"
      R"({"Effect":"Deny","NotPrincipal":"*","NotAction":"sts:AssumeRole"})"));
  CHECK(list.version == "2012-10-17");
  REQUIRE(list.statements.size() == 2);
  const auto& a = list.statements[0];
  CHECK(a.index == 0);
  CHECK(a.sid == "A");
  CHECK(a.effect == Effect::Allow);
  CHECK_FALSE(a.not_principal);
  CHECK(a.principals.at("Federated") == std::vector<std::string>{"accounts.google.com", "x"});
  CHECK(a.actions.size() == 2);
  REQUIRE(a.conditions.size() == 3);
  // Operators, then keys, in name order.
  CHECK(a.conditions[0].op == "Null");
  CHECK(a.conditions[1].key == "k1");
  CHECK(a.conditions[2].values == std::vector<std::string>{"a", "1", "true"});
  const auto& b = list.statements[1];
  CHECK(b.index == 1);
  CHECK(b.effect == Effect::Deny);
  CHECK(b.not_principal);
  CHECK(b.any_principal);
  CHECK(b.not_action);

  const auto lone = parse_trust_policy(
      R"({"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:*"}})");
  CHECK(lone.version.empty());
  REQUIRE(lone.statements.size() == 1);
  CHECK(lone.statements[0].principals.at("AWS") == std::vector<std::string>{"*"});
}

TEST_CASE("malformed documents give a typed error") {
  CHECK(error_of("{\"Statement\":[") == Kind::NotJson);
  CHECK(error_of("Version=2012-10-17") == Kind::NotJson);
  CHECK(error_of("[]") == Kind::NotAnObject);
  CHECK(error_of(R"({"Version":"2012-10-17"})") == Kind::MissingStatement);
  CHECK(error_of(R"({"Statement":[],"Statement":[]})") == Kind::DuplicateElement);
  CHECK(error_of(
            with_statement(R"({"Effect":"Allow","Effect":"Deny","Principal":"*","Action":"*"})")) ==
        Kind::DuplicateElement);
  CHECK(error_of(with_statement("\"Allow\"")) == Kind::NotAnObject);
  CHECK(error_of(with_statement(R"({"Principal":"*","Action":"*"})")) == Kind::BadEffect);
  CHECK(error_of(with_statement(R"({"Effect":"allow","Principal":"*","Action":"*"})")) ==
        Kind::BadEffect);
  CHECK(error_of(with_statement(R"({"Effect":"Allow","Action":"*"})")) == Kind::BadPrincipal);
  CHECK(error_of(with_statement(
            R"({"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"*"})")) ==
        Kind::BadPrincipal);
  CHECK(error_of(with_statement(R"({"Effect":"Allow","Principal":"me","Action":"*"})")) ==
        Kind::BadPrincipal);
  CHECK(error_of(
            with_statement(R"({"Effect":"Allow","Principal":{"Federated":[1]},"Action":"*"})")) ==
        Kind::BadPrincipal);
  CHECK(error_of(with_statement(R"({"Effect":"Allow","Principal":"*"})")) == Kind::BadAction);
  CHECK(error_of(with_statement(R"({"Effect":"Allow","Principal":"*","Action":7})")) ==
        Kind::BadAction);
  CHECK(error_of(
            with_statement(R"({"Effect":"Allow","Principal":"*","Action":"*","Condition":[]})")) ==
        Kind::BadCondition);
  CHECK(
      error_of(with_statement(
          R"({"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":"x"}})")) ==
      Kind::BadCondition);
  CHECK(
      error_of(with_statement(
          R"({"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"k":{"a":1}}}})")) ==
      Kind::BadCondition);
  CHECK(std::string(to_string(Kind::BadCondition)) == "BadCondition");
}
