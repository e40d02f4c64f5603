#include "webhook/text.hpp"

namespace gtoken::webhook {

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kSpace);
  return s.substr(first, last - first + 1);
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (is_upper(c)) c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::string> split_list(std::string_view s, char separator) {
  std::vector<std::string> out;
  while (true) {
    const auto pos = s.find(separator);
    const auto item = trim(s.substr(0, pos));
    if (!item.empty()) out.emplace_back(item);
    if (pos == std::string_view::npos) break;
    s.remove_prefix(pos + 1);
  }
  return out;
}

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") {
    return false;
  }
  return std::nullopt;
}

std::optional<std::int64_t> parse_int64(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  // Accumulated as a negative number, whose range is the larger one.
  constexpr std::int64_t kMin = INT64_MIN;
  std::int64_t n = 0;
  for (const char c : s) {
    if (!is_digit(c)) return std::nullopt;
    const int digit = c - '0';
    if (n < (kMin + digit) / 10) return std::nullopt;
    n = n * 10 - digit;
  }
  if (!negative) {
    if (n == kMin) return std::nullopt;
    n = -n;
  }
  return n;
}

}  // namespace gtoken::webhook
