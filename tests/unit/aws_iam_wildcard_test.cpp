// IAM's `*` / `?` wildcard match (StringLike, Action).
#include <doctest/doctest.h>

#include <string>

#include "aws/iam_wildcard.hpp"

using gtoken::aws::iam_wildcard_match;

TEST_CASE("literal patterns match only themselves, whole") {
  CHECK(iam_wildcard_match("sts:AssumeRole", "sts:AssumeRole"));
  CHECK_FALSE(iam_wildcard_match("sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"));
  CHECK_FALSE(iam_wildcard_match("sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"));
  CHECK(iam_wildcard_match("", ""));
  CHECK_FALSE(iam_wildcard_match("a", ""));
}

TEST_CASE("star is any run, also an empty one") {
  CHECK(iam_wildcard_match("sts:AssumeRoleWithWebIdentity", "sts:*"));
  CHECK(iam_wildcard_match("sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWith*"));
  CHECK(iam_wildcard_match("sts:AssumeRoleWithWebIdentity", "*"));
  CHECK(iam_wildcard_match("", "*"));
  CHECK(iam_wildcard_match("abc", "abc*"));
  CHECK(iam_wildcard_match("system:serviceaccount:jobs:uploader", "system:serviceaccount:*:up*"));
  CHECK_FALSE(
      iam_wildcard_match("system:serviceaccount:jobs:uploader", "system:serviceaccount:*:down*"));
  // Back-tracking past an early partial match.
  CHECK(iam_wildcard_match("aXbXbc", "a*bc"));
  CHECK_FALSE(iam_wildcard_match("aXbXbd", "a*bc"));
  CHECK(iam_wildcard_match("ab", "a**b"));
}

TEST_CASE("question mark is exactly one character, a UTF-8 sequence included") {
  CHECK(iam_wildcard_match("sub-1", "sub-?"));
  CHECK_FALSE(iam_wildcard_match("sub-12", "sub-?"));
  CHECK_FALSE(iam_wildcard_match("sub-", "sub-?"));
  CHECK(iam_wildcard_match("caf\xc3\xa9", "caf?"));
  CHECK_FALSE(iam_wildcard_match("caf\xc3\xa9", "caf??"));
}

TEST_CASE("other characters are not special") {
  CHECK(iam_wildcard_match("a.b", "a.b"));
  CHECK_FALSE(iam_wildcard_match("axb", "a.b"));
  CHECK_FALSE(iam_wildcard_match("ab", "[ab]"));
}

TEST_CASE("case folding only when asked (Action names)") {
  CHECK_FALSE(iam_wildcard_match("sts:AssumeRoleWithWebIdentity", "STS:assumerolewith*"));
  CHECK(iam_wildcard_match("sts:AssumeRoleWithWebIdentity", "STS:assumerolewith*", true));
}

TEST_CASE("many stars stay fast") {
  const std::string value(2000, 'a');
  const std::string pattern = std::string(50, '*') + "b";
  CHECK_FALSE(iam_wildcard_match(value, pattern));
}
