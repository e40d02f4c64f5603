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

}  // namespace gtoken::agent
