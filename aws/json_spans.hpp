#pragma once
// Where values sit in a JSON text: byte ranges of an object's members and an
// array's elements, so a document can be edited without re-serializing the
// parts that must stay byte for byte (whitespace and key order included).
// The text is first checked with nlohmann::json (strict RFC 8259); the
// scanner below then only follows structure.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gtoken::aws {

struct Span {
  std::size_t begin = 0;
  std::size_t end = 0;  // one past the last byte
  std::string_view in(std::string_view text) const { return text.substr(begin, end - begin); }
};

struct JsonMember {
  std::string key;  // decoded
  Span value;
};

class JsonSyntaxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The text's one top-level value (surrounding whitespace excluded); throws
// JsonSyntaxError when `text` is not one valid JSON value.
Span json_document(std::string_view text);
// Members of the object at `object`, in text order (duplicates kept: the
// caller decides what they mean).
std::vector<JsonMember> json_object_members(std::string_view text, Span object);
// Elements of the array at `array`, in order.
std::vector<Span> json_array_elements(std::string_view text, Span array);

}  // namespace gtoken::aws
