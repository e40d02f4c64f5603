#pragma once
// Go-style durations for flags: "90s", "1m30s", "500ms", "1.5h"; a bare
// number means seconds.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace gtoken::agent {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);

// Seconds as a JSON-friendly number with millisecond precision.
double seconds(std::chrono::nanoseconds d);

// std::llround (halves away from zero) for |x| < 2^62, without libm: the
// agent links no libm at all (one shared object less mapped in every pod).
inline long long round_half_away(double x) {
  const long long i = static_cast<long long>(x);  // truncates; x - i is exact
  const double frac = x - static_cast<double>(i);
  return frac >= 0.5 ? i + 1 : frac <= -0.5 ? i - 1 : i;
}

}  // namespace gtoken::agent
