#pragma once
// A small XML reader for AWS query-API answers: elements, their text
// (entities and character references decoded, CDATA kept), attributes
// skipped, namespace prefixes dropped from names; the declaration,
// comments and processing instructions ignored. No DTDs: a document with
// one is refused (AWS never sends one, and entity expansion is an attack).

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gtoken::aws {

struct XmlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct XmlElement {
  std::string name;  // local name
  std::string text;  // the element's own character data, concatenated
  std::vector<XmlElement> children;

  // The first child named `name`, or nullptr.
  const XmlElement* child(std::string_view name) const;
  // The text of child(name), or "" when there is none.
  std::string child_text(std::string_view name) const;
  // Every child named `name`, in order.
  std::vector<const XmlElement*> children_named(std::string_view name) const;
};

// The root element. Throws XmlError on anything not well-formed, and on
// nesting deeper than 64 (answers are a few levels deep).
XmlElement parse_xml(std::string_view document);

}  // namespace gtoken::aws
