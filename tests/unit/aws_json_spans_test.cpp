// Byte ranges of members and elements in a JSON text, and IAM's size count.
#include <doctest/doctest.h>

#include <string>

#include "aws/json_spans.hpp"
#include "aws/policy_size.hpp"

using namespace gtoken::aws;

TEST_CASE("members and elements are located byte for byte") {
  const std::string t = " {\"a\" : [1, {\"x\":\"]}\\\"\"} ,  \"z\"] , \"b\\u0041\":{}}\n";
  const Span doc = json_document(t);
  CHECK(doc.begin == 1);
  CHECK(doc.end == t.size() - 1);
  const auto members = json_object_members(t, doc);
  REQUIRE(members.size() == 2);
  CHECK(members[0].key == "a");
  CHECK(members[1].key == "bA");  // escapes decoded
  CHECK(members[1].value.in(t) == "{}");
  const auto elements = json_array_elements(t, members[0].value);
  REQUIRE(elements.size() == 3);
  CHECK(elements[0].in(t) == "1");
  CHECK(elements[1].in(t) == "{\"x\":\"]}\\\"\"}");
  CHECK(elements[2].in(t) == "\"z\"");
}

TEST_CASE("empty containers and duplicates are reported as written") {
  const std::string t = R"({"k":[],"k":[ ]})";
  const auto members = json_object_members(t, json_document(t));
  REQUIRE(members.size() == 2);
  CHECK(json_array_elements(t, members[0].value).empty());
  CHECK(json_array_elements(t, members[1].value).empty());
}

TEST_CASE("text that is not one JSON value is refused") {
  CHECK_THROWS_AS(json_document("{"), JsonSyntaxError);
  CHECK_THROWS_AS(json_document("{} {}"), JsonSyntaxError);
  CHECK_THROWS_AS(json_document("{\"a\":1,}"), JsonSyntaxError);
  CHECK_THROWS_AS(json_document("// c\n{}"), JsonSyntaxError);
  CHECK_THROWS_AS(json_document(""), JsonSyntaxError);
}

TEST_CASE("IAM's size: white space between tokens is not counted, inside strings it is") {
  CHECK(iam_policy_size(R"({"a":"b"})") == 9);
  CHECK(iam_policy_size("{\n  \"a\" :\t\"b\"\r\n}") == 9);
  CHECK(iam_policy_size(R"({"a":"b c"})") == 11);
  // An escaped quote does not end the string.
  CHECK(iam_policy_size(R"({"a":"\" x"})") == 12);
  // Characters, not bytes.
  CHECK(iam_policy_size("{\"a\":\"caf\xc3\xa9\"}") == 12);
  CHECK(kDefaultTrustPolicyLimit == 2048);
}
