#include "agent/duration.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

namespace gtoken::agent {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  double total_ms = 0;
  size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    size_t start = i;
    bool digits = false;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
      digits |= s[i] != '.';
      ++i;
    }
    if (!digits) {
      return std::nullopt;
    }
    std::string num(s.substr(start, i - start));
    if (num.find('.') != num.rfind('.')) {
      return std::nullopt;
    }
    double value = std::strtod(num.c_str(), nullptr);
    size_t unit_start = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) {
      ++i;
    }
    std::string_view unit = s.substr(unit_start, i - unit_start);
    double scale;
    // A bare number (the whole string) means seconds.
    const bool bare_seconds = unit.empty() && !any && i == s.size();
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s" || bare_seconds) {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else {
      return std::nullopt;
    }
    total_ms += value * scale;
    any = true;
  }
  // One year is far beyond any sensible agent timing; it also keeps the
  // arithmetic far from overflow.
  if (!std::isfinite(total_ms) || total_ms > 365.0 * 24 * 3'600'000) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(round_half_away(total_ms));
}

double seconds(std::chrono::nanoseconds d) {
  return static_cast<double>(round_half_away(std::chrono::duration<double>(d).count() * 1000)) / 1000;
}

}  // namespace gtoken::agent
