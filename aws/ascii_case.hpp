#pragma once
// ASCII case folding: IAM compares condition key names, Action names and the
// ...IgnoreCase operators' values without regard to ASCII case.

#include <string>
#include <string_view>

namespace gtoken::aws {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace gtoken::aws
