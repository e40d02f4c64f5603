#include "aws/policy_size.hpp"

namespace gtoken::aws {

std::size_t iam_policy_size(std::string_view t) {
  std::size_t n = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (!in_string && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) continue;
    if (in_string && c == '\\') {
      // An escape is two or more characters of text, all counted; the
      // escaped character itself can be a quote.
      n += 2;
      ++i;
      continue;
    }
    if (c == '"') in_string = !in_string;
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace gtoken::aws
