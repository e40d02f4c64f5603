#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace gtoken::webhook {

// Escapes one JSON Pointer reference token (RFC 6901 §3): "~" → "~0", "/" → "~1".
std::string escape_pointer_token(std::string_view token);

// One path segment: a key (escaped on output) or an array index. Implicit
// constructors so call sites read like the path: pointer({"spec", "volumes", i}).
class PathSegment {
 public:
  PathSegment(std::string_view key) : text_(escape_pointer_token(key)) {}
  PathSegment(const char* key) : PathSegment(std::string_view(key)) {}
  PathSegment(const std::string& key) : PathSegment(std::string_view(key)) {}
  PathSegment(std::size_t index) : text_(std::to_string(index)) {}
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Builds "/a/b/0" from segments so no caller concatenates unescaped keys.
std::string pointer(std::initializer_list<PathSegment> segments);

}  // namespace gtoken::webhook
