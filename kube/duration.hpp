#pragma once
// The one duration syntax of every gtoken duration flag (operator, webhook,
// agent): Go's time.ParseDuration, as kubectl and client-go flags read it.
// One or more decimal numbers, each with an optional fraction and a unit:
// "500ms", "90s", "5m", "1h30m", "1.5h", "720h". Units: ms, s, m, h; "0"
// alone is zero. No sign: no gtoken flag takes a negative duration.
//
// Pure; part of gtoken_base (no libm), so the agent links it.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/log.hpp"

namespace kube {

// At most 100 years: beyond any timing or certificate lifetime gtoken uses,
// and far from overflowing nanosecond time points (about ±292 years).
inline constexpr std::chrono::hours kMaxFlagDuration{24 * 365 * 100};

// nullopt when `text` is not in the syntax above or exceeds kMaxFlagDuration.
// Rounded to the nearest millisecond.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest spelling parse_duration reads back: "720h", "1h30m", "1m30s",
// "1s500ms", "500ms", "0s".
std::string format_duration(std::chrono::milliseconds d);

// d in whole seconds; nullopt when it has a fraction of a second (flags
// whose setting is kept in seconds: a Lease's leaseDurationSeconds, a
// certificate's validity).
std::optional<std::chrono::seconds> whole_seconds(std::chrono::milliseconds d);

// A flag given the way an earlier release spelled it: still accepted, and
// logged once at start-up as a warning that names the spelling to use.
struct FlagDeprecation {
  std::string given;  // "--resync-seconds=60", "--cert-validity=30d"
  std::string use;    // "--resync=1m", "--cert-validity=720h"
  std::string message() const {
    std::string m = given;
    return m.append(" is deprecated; use ").append(use);
  }
};

// A duration flag's value: parse_duration's syntax, and the spellings
// earlier releases also took, which still parse: a bare number of seconds
// ("90", "1.5"; the agent and the webhook read those) and whole days ("30d",
// the webhook's certificate lifetimes). For those, a FlagDeprecation naming
// `flag` ("--cert-validity") and the Go-style spelling is appended to
// `deprecations`.
std::optional<std::chrono::milliseconds> parse_duration_flag(
    std::string_view flag, std::string_view text, std::vector<FlagDeprecation>& deprecations);

// One warning per deprecated spelling: {"msg":"--resync-seconds=60 is
// deprecated; use --resync=1m","deprecated":"--resync-seconds=60","use":...}.
void warn_deprecated(Logger& log, const std::vector<FlagDeprecation>& deprecations);

// Seconds as a JSON-friendly number with millisecond precision (log fields).
double to_seconds(std::chrono::nanoseconds d);

// std::llround (halves away from zero) for |x| < 2^62, without libm: the
// agent links no libm at all (one shared object less mapped in every pod).
inline long long round_half_away(double x) {
  const long long i = static_cast<long long>(x);  // truncates; x - i is exact
  const double frac = x - static_cast<double>(i);
  return frac >= 0.5 ? i + 1 : frac <= -0.5 ? i - 1 : i;
}

}  // namespace kube
