#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Small ASCII helpers shared by the webhook sources; locale-free on purpose,
// since Kubernetes names and AWS identifiers are ASCII by definition.
namespace gtoken::webhook {

constexpr bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
constexpr bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// STS RoleSessionName characters: [\w+=,.@-] (\w being [A-Za-z0-9_]).
constexpr bool is_session_name_char(char c) {
  return is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '+' || c == '=' ||
         c == ',' || c == '.' || c == '@' || c == '-';
}

std::string_view trim(std::string_view s);
std::string to_lower(std::string_view s);

// "a, b,,c " → {"a", "b", "c"}.
std::vector<std::string> split_list(std::string_view s, char separator = ',');

// Go's strconv.ParseBool, which is what kubectl users expect annotation
// booleans to accept: 1 t T TRUE true True 0 f F FALSE false False.
std::optional<bool> parse_bool(std::string_view s);

// Go's strconv.ParseInt(s, 10, 64), which the EKS webhook reads its numbers
// with: an optional sign and decimal digits, nothing else (no spaces, no
// underscores); nullopt also when the value does not fit in 64 bits.
std::optional<std::int64_t> parse_int64(std::string_view s);

}  // namespace gtoken::webhook
