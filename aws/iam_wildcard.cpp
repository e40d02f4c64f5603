#include "aws/iam_wildcard.hpp"

#include <cstddef>

#include "aws/ascii_case.hpp"

namespace gtoken::aws {

namespace {

char fold(char c, bool ignore_case) {
  return ignore_case ? ascii_lower(c) : c;
}

// `?` is one character: a UTF-8 sequence, not one byte of it.
std::size_t next_char(std::string_view s, std::size_t i) {
  ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  return i;
}

}  // namespace

bool iam_wildcard_match(std::string_view value, std::string_view pattern, bool ignore_case) {
  // Greedy with one back-track point (the last `*`): linear in practice and
  // never exponential, whatever the pattern.
  std::size_t v = 0, p = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (v < value.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = v;
    } else if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      v = next_char(value, v);
    } else if (p < pattern.size() && fold(pattern[p], ignore_case) == fold(value[v], ignore_case)) {
      ++p;
      ++v;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      v = resume = next_char(value, resume);
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace gtoken::aws
