#include "webhook/json_patch.hpp"

#include <utility>

namespace gtoken::webhook {

std::string escape_pointer_token(std::string_view token) {
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

std::string pointer(std::initializer_list<PathSegment> segments) {
  std::string out;
  for (const auto& s : segments) {
    out += '/';
    out += s.text();
  }
  return out;
}

nlohmann::json add_op(std::string path, nlohmann::json value) {
  return nlohmann::json{{"op", "add"}, {"path", std::move(path)}, {"value", std::move(value)}};
}

}  // namespace gtoken::webhook
