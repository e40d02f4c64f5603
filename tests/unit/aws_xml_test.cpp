// aws/xml: the reader of AWS's XML answers.
#include <doctest/doctest.h>

#include <string>

#include "aws/xml.hpp"

namespace aws = gtoken::aws;

TEST_CASE("elements, text, entities, CDATA; attributes, prefixes, comments skipped") {
  auto root = aws::parse_xml(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->"
      "<R xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><a:B x='1' y=\"2\">"
      "&lt;&amp;&gt;&quot;&apos;&#65;&#x42;&#xE9;&#x1F600;<![CDATA[<raw&>]]></a:B>"
      "<C/><C>two</C><!-- d --><?pi x?></R>\n");
  CHECK(root.name == "R");
  REQUIRE(root.children.size() == 3);
  CHECK(root.child_text("B") == "<&>\"'AB\xC3\xA9\xF0\x9F\x98\x80<raw&>");
  auto cs = root.children_named("C");
  REQUIRE(cs.size() == 2);
  CHECK(cs[0]->text.empty());
  CHECK(cs[1]->text == "two");
  CHECK(root.child("D") == nullptr);
  CHECK(root.child_text("D").empty());
}

TEST_CASE("UTF-8 text passes through unchanged") {
  auto root = aws::parse_xml("<a>gr\xC3\xBC\xC3\x9F \xE6\x97\xA5\xE6\x9C\xAC</a>");
  CHECK(root.text == "gr\xC3\xBC\xC3\x9F \xE6\x97\xA5\xE6\x9C\xAC");
}

TEST_CASE("what is not well-formed is refused") {
  for (const char* bad : {"", "text", "<a>", "<a></b>", "<a><b></a></b>", "<a>&bogus;</a>",
                          "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>&#;</a>",
                          "<a x=1></a>", "<a></a><b></b>", "<a><![CDATA[x</a>", "<a><!-- x</a>",
                          "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", "<a><!DOCTYPE b></a>"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(aws::parse_xml(bad), aws::XmlError);
  }
}

TEST_CASE("nesting is bounded") {
  std::string deep;
  for (int i = 0; i < 65; ++i) deep += "<a>";
  for (int i = 0; i < 65; ++i) deep += "</a>";
  CHECK_THROWS_AS(aws::parse_xml(deep), aws::XmlError);
  std::string ok;
  for (int i = 0; i < 64; ++i) ok += "<a>";
  for (int i = 0; i < 64; ++i) ok += "</a>";
  CHECK(aws::parse_xml(ok).name == "a");
}
