#include "kube/duration.hpp"

namespace kube {

namespace {

using Wide = __int128;  // nanoseconds, with room for 18 digits times an hour

constexpr Wide kNsPerMs = 1'000'000;
constexpr Wide kMaxNs = Wide(std::chrono::nanoseconds(kMaxFlagDuration).count());

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// One "<digits>[.<digits>]" at s[pos]; advances pos. Its value in units of
// 10^-18 is int_part * 10^18 + fraction, so a component's nanoseconds are
// exact to well below a millisecond. False when there is no digit at all or
// the integer part is longer than 18 digits.
bool read_number(std::string_view s, size_t& pos, Wide& whole, Wide& frac_e18) {
  whole = 0;
  frac_e18 = 0;
  size_t digits = 0;
  while (pos < s.size() && is_digit(s[pos])) {
    if (++digits > 18) return false;
    whole = whole * 10 + (s[pos] - '0');
    ++pos;
  }
  size_t frac_digits = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    Wide scale = 100'000'000'000'000'000;  // 10^17: the first fraction digit
    while (pos < s.size() && is_digit(s[pos])) {
      frac_e18 += (s[pos] - '0') * scale;  // digits past the 18th add 0
      scale /= 10;
      ++frac_digits;
      ++pos;
    }
  }
  return digits + frac_digits > 0;
}

// Nanoseconds of one unit; 0 when `u` is not a unit.
Wide unit_ns(std::string_view u) {
  if (u == "ms") return 1'000'000;
  if (u == "s") return 1'000'000'000;
  if (u == "m") return Wide(60) * 1'000'000'000;
  if (u == "h") return Wide(3600) * 1'000'000'000;
  return 0;
}

// parse_duration in nanoseconds, with `bare_unit_ns` standing in for a
// missing unit when the whole text is one unitless number (0: not allowed).
std::optional<Wide> parse_ns(std::string_view s, Wide bare_unit_ns) {
  if (s.empty()) return std::nullopt;
  Wide total = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t start = pos;
    Wide whole = 0;
    Wide frac = 0;
    if (!read_number(s, pos, whole, frac)) return std::nullopt;
    const size_t unit_start = pos;
    while (pos < s.size() && !is_digit(s[pos]) && s[pos] != '.') ++pos;
    const std::string_view unit = s.substr(unit_start, pos - unit_start);
    Wide ns = unit_ns(unit);
    if (unit.empty() && start == 0 && pos == s.size()) ns = bare_unit_ns;
    if (ns == 0) return std::nullopt;
    total += whole * ns + (frac * ns + 500'000'000'000'000'000) / 1'000'000'000'000'000'000;
    if (total > kMaxNs) return std::nullopt;
  }
  return total;
}

std::chrono::milliseconds to_ms(Wide ns) {
  return std::chrono::milliseconds(static_cast<long long>((ns + kNsPerMs / 2) / kNsPerMs));
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text == "0") return std::chrono::milliseconds::zero();
  const auto ns = parse_ns(text, 0);
  if (!ns) return std::nullopt;
  return to_ms(*ns);
}

std::string format_duration(std::chrono::milliseconds d) {
  if (d.count() == 0) return "0s";
  // append(), not operator+ chains: GCC 12 reports a false -Wrestrict on
  // those at -O2 and above (GCC bug 105329), as in kube/log.cpp.
  std::string out;
  unsigned long long ms = static_cast<unsigned long long>(d.count());
  if (d.count() < 0) {
    out.push_back('-');
    ms = 0ULL - ms;
  }
  auto part = [&out](unsigned long long n, const char* unit) {
    if (n != 0) out.append(std::to_string(n)).append(unit);
  };
  part(ms / 3'600'000, "h");
  part(ms / 60'000 % 60, "m");
  part(ms / 1000 % 60, "s");
  part(ms % 1000, "ms");
  return out;
}

std::optional<std::chrono::seconds> whole_seconds(std::chrono::milliseconds d) {
  if (d.count() % 1000 != 0) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::seconds>(d);
}

std::optional<std::chrono::milliseconds> parse_duration_flag(
    std::string_view flag, std::string_view text, std::vector<FlagDeprecation>& deprecations) {
  if (auto d = parse_duration(text)) return d;
  std::optional<Wide> ns;
  if (text.size() > 1 && text.back() == 'd') {
    // Whole days, as the webhook read them: "30d".
    const std::string_view days = text.substr(0, text.size() - 1);
    bool digits = days.size() <= 9;
    for (const char c : days) digits = digits && is_digit(c);
    if (digits) ns = parse_ns(days, Wide(86400) * 1'000'000'000);
  } else {
    // A bare number of seconds: "90", "1.5".
    ns = parse_ns(text, 1'000'000'000);
  }
  if (!ns) return std::nullopt;
  const auto d = to_ms(*ns);
  FlagDeprecation note;
  note.given.append(flag).append("=").append(text);
  note.use.append(flag).append("=").append(format_duration(d));
  deprecations.push_back(std::move(note));
  return d;
}

void warn_deprecated(Logger& log, const std::vector<FlagDeprecation>& deprecations) {
  for (const auto& d : deprecations) {
    log.warn(d.message(), {{"deprecated", d.given}, {"use", d.use}});
  }
}

double to_seconds(std::chrono::nanoseconds d) {
  return static_cast<double>(round_half_away(std::chrono::duration<double>(d).count() * 1000)) /
         1000;
}

}  // namespace kube
