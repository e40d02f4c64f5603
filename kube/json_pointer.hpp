#pragma once
// RFC 6901: one reference token of a JSON Pointer ("~" → "~0", "/" → "~1"),
// e.g. an annotation key inside a JSON Patch path.

#include <string>
#include <string_view>

namespace kube {

inline std::string json_pointer_escape(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace kube
