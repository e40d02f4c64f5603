#include "aws/percent_encoding.hpp"

#include "kube/names.hpp"

namespace gtoken::aws {

namespace {

bool hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

// AWS's unreserved set is RFC 3986's, which kube's path segments use too.
std::string percent_encode(std::string_view s, bool keep_slash) {
  if (!keep_slash) return kube::encode_path_segment(s);
  std::string out;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    out += kube::encode_path_segment(s.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    out += '/';
    start = slash + 1;
  }
}

std::optional<std::string> percent_decode(std::string_view s) {
  // kube's decoder keeps a malformed escape as is; an IAM document with one
  // is not what IAM sent, so it is refused here first.
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size()) return std::nullopt;
    if (!hex_digit(s[i + 1]) || !hex_digit(s[i + 2])) return std::nullopt;
    i += 2;
  }
  return kube::decode_path_segment(s);
}

std::string form_encode(const QueryParams& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += percent_encode(name);
    out += '=';
    out += percent_encode(value);
  }
  return out;
}

}  // namespace gtoken::aws
