#include "webhook/json_patch.hpp"

#include "kube/json_pointer.hpp"

namespace gtoken::webhook {

std::string escape_pointer_token(std::string_view token) { return kube::json_pointer_escape(token); }

std::string pointer(std::initializer_list<PathSegment> segments) {
  std::string out;
  for (const auto& s : segments) {
    out += '/';
    out += s.text();
  }
  return out;
}

}  // namespace gtoken::webhook
