#include <doctest/doctest.h>

#include <random>

#include "agent/schedule.hpp"

using namespace gtoken::agent;
using namespace std::chrono_literals;

namespace {
constexpr TimePoint kT0 = TimePoint{} + std::chrono::seconds(1700000000);
double frac_of_lifetime(TimePoint at, TimePoint iat, TimePoint exp) {
  return std::chrono::duration<double>(at - iat) / std::chrono::duration<double>(exp - iat);
}
}  // namespace

TEST_CASE("default policy refreshes a fresh token at 50-60% of its lifetime") {
  const TimePoint iat = kT0, exp = kT0 + 1h;
  CHECK(next_refresh(kT0, iat, exp, kube::fixed_random(0.0)) == kT0 + 36min);
  auto late_end = next_refresh(kT0, iat, exp, kube::fixed_random(0.999999));
  CHECK(late_end > kT0 + 30min);
  CHECK(late_end < kT0 + 30min + 1s);

  std::mt19937_64 gen(42);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double lo = 1, hi = 0;
  for (int i = 0; i < 10000; ++i) {
    double r = u(gen);
    auto at = next_refresh(kT0 + 2s, iat, exp, kube::fixed_random(r));
    double f = frac_of_lifetime(at, iat, exp);
    REQUIRE(f > 0.5);
    REQUIRE(f <= 0.6);
    lo = std::min(lo, f);
    hi = std::max(hi, f);
  }
  // The jitter actually spreads agents over the window.
  CHECK(lo < 0.51);
  CHECK(hi > 0.59);
}

TEST_CASE("refresh point is measured from iat, not from the fetch time") {
  // Fetched 5 minutes after issue: still refreshed at 30-36 min after iat.
  auto at = next_refresh(kT0 + 5min, kT0, kT0 + 1h, kube::fixed_random(0.0));
  CHECK(at == kT0 + 36min);
}

TEST_CASE("missing, future or nonsensical iat falls back to now") {
  const TimePoint now = kT0, exp = kT0 + 1h;
  CHECK(next_refresh(now, std::nullopt, exp, kube::fixed_random(0.0)) == now + 36min);
  CHECK(next_refresh(now, now + 10min, exp, kube::fixed_random(0.0)) == now + 36min);  // skewed
  CHECK(next_refresh(now, exp + 1s, exp, kube::fixed_random(0.0)) == now + 36min);     // iat > exp
  // A little skew (within kMaxIatSkew) is taken as is.
  CHECK(next_refresh(now, now + 1min, exp, kube::fixed_random(0.0)) == now + 1min + 35min + 24s);
}

TEST_CASE("late path: a cached token past its refresh point waits 40-50% of what is left") {
  const TimePoint iat = kT0, exp = kT0 + 1h;
  const TimePoint now = kT0 + 50min;  // 10 min left
  auto a = next_refresh(now, iat, exp, kube::fixed_random(0.0));
  CHECK(a == now + 5min);
  auto b = next_refresh(now, iat, exp, kube::fixed_random(0.999999));
  CHECK(b > now + 4min);
  CHECK(b < now + 4min + 1s);
  // Near the end: never closer than min_delay.
  CHECK(next_refresh(exp - 500ms, iat, exp, kube::fixed_random(0.5)) == exp - 500ms + 1s);
}

TEST_CASE("expired token: retry after min_delay") {
  CHECK(next_refresh(kT0 + 2h, kT0, kT0 + 1h, kube::fixed_random(0.3)) == kT0 + 2h + 1s);
  CHECK(next_refresh(kT0 + 1h, kT0, kT0 + 1h, kube::fixed_random(0.3)) == kT0 + 1h + 1s);
}

TEST_CASE("the refresh point is never before now+min_delay nor after exp") {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<int> secs(1, 7200);
  for (int i = 0; i < 5000; ++i) {
    TimePoint iat = kT0;
    TimePoint exp = kT0 + std::chrono::seconds(secs(gen));
    TimePoint now = kT0 + std::chrono::seconds(secs(gen) % 7300);
    RefreshPolicy p;
    if (i % 3 == 1) {
      p.keep_fraction = u(gen);
    }
    if (i % 3 == 2) {
      p.keep_duration = std::chrono::seconds(secs(gen));
    }
    auto at = next_refresh(now, iat, exp, kube::fixed_random(u(gen)), p);
    REQUIRE(at >= now + p.min_delay);
    if (exp - now >= 2 * p.min_delay) {
      REQUIRE(at <= exp);
    }
  }
}

TEST_CASE("duration policy keeps at least that much validity") {
  RefreshPolicy p;
  p.keep_duration = 20min;
  const TimePoint iat = kT0, exp = kT0 + 1h;
  CHECK(next_refresh(kT0, iat, exp, kube::fixed_random(0.0), p) == kT0 + 40min);
  // Jitter (up to 10% of the lifetime) only makes it earlier.
  auto at = next_refresh(kT0, iat, exp, kube::fixed_random(0.999999), p);
  CHECK(at > kT0 + 34min);
  CHECK(at <= kT0 + 40min);
  // A keep longer than the lifetime degrades to the late path, not a loop.
  p.keep_duration = 2h;
  CHECK(next_refresh(kT0, iat, exp, kube::fixed_random(0.0), p) == kT0 + 30min);
}

TEST_CASE("fraction policy") {
  RefreshPolicy p;
  p.keep_fraction = 0.25;
  p.jitter_fraction = 0;
  CHECK(next_refresh(kT0, kT0, kT0 + 1h, kube::fixed_random(0.7), p) == kT0 + 45min);
}

TEST_CASE("a broken random source cannot push the point out of bounds") {
  const TimePoint iat = kT0, exp = kT0 + 1h;
  for (double r : {-5.0, 1.0, 7.0, std::nan("")}) {
    auto at = next_refresh(kT0, iat, exp, kube::fixed_random(r));
    CHECK(at >= kT0 + 30min);
    CHECK(at <= kT0 + 36min);
  }
  CHECK(next_refresh(kT0, iat, exp, kube::Random{}) == kT0 + 36min);
}
