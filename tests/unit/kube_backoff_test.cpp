// kube/backoff: the one exponential backoff (operator, webhook, agent).
#include <doctest/doctest.h>

#include <chrono>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "kube/backoff.hpp"
#include "tests/unit/kube_backoff_samples.hpp"

using namespace std::chrono_literals;
using kube::BackoffPolicy;
using kube::Clock;
using kube::Jitter;

using backoff_samples::policy;
using backoff_samples::sequence;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST_CASE("backoff_delay without jitter doubles from base up to cap") {
  auto p = policy(Jitter::None);
  CHECK(kube::backoff_delay(p, 0, 0.5) == 100ms);
  CHECK(kube::backoff_delay(p, 1, 0.5) == 200ms);
  CHECK(kube::backoff_delay(p, 2, 0.5) == 400ms);
  CHECK(kube::backoff_delay(p, 6, 0.5) == 6400ms);
  CHECK(kube::backoff_delay(p, 7, 0.5) == 10s);
  CHECK(kube::backoff_delay(p, 100, 0.5) == 10s);
  // base * 2^4000 is inf in double: still the cap, no UB.
  CHECK(kube::backoff_delay(p, 4000, 0.5) == 10s);
  CHECK(kube::backoff_delay(p, std::numeric_limits<unsigned>::max(), 0.5) == 10s);
}

TEST_CASE("other factors grow by their own power") {
  BackoffPolicy p{100ms, 1h, 3.0, Jitter::None};
  CHECK(kube::backoff_delay(p, 0, 0) == 100ms);
  CHECK(kube::backoff_delay(p, 1, 0) == 300ms);
  CHECK(kube::backoff_delay(p, 4, 0) == 8100ms);
  CHECK(kube::backoff_delay(p, 5, 0) == 24300ms);
  p.factor = 1.5;
  CHECK(kube::backoff_delay(p, 3, 0) == 337500us);
}

TEST_CASE("full jitter spreads the delay over (0, d]; u = 0 is d") {
  auto p = policy(Jitter::Full);
  CHECK(kube::backoff_delay(p, 2, 0.0) == 400ms);
  CHECK(kube::backoff_delay(p, 2, 0.5) == 200ms);
  CHECK(kube::backoff_delay(p, 2, 0.25) == 300ms);
  CHECK(kube::backoff_delay(p, 2, 1.0) == 0ms);
  CHECK(kube::backoff_delay(p, 50, 0.5) == 5s);  // half the cap
}

TEST_CASE("equal jitter keeps at least half of d") {
  auto p = policy(Jitter::Equal);
  CHECK(kube::backoff_delay(p, 2, 0.0) == 400ms);
  CHECK(kube::backoff_delay(p, 2, 0.5) == 300ms);
  CHECK(kube::backoff_delay(p, 2, 1.0) == 200ms);
  CHECK(kube::backoff_delay(p, 50, 1.0) == 5s);
}

TEST_CASE("a fractional jitter (the agent's 0.2) takes at most that share off") {
  // The agent's token retries: 1 s doubling, capped at 30 s, up to 20 % off.
  BackoffPolicy b{1000ms, 30000ms, 2.0, 0.2};
  CHECK(kube::backoff_delay(b, 0, 0.0) == 1000ms);
  CHECK(kube::backoff_delay(b, 1, 0.0) == 2000ms);
  CHECK(kube::backoff_delay(b, 2, 0.0) == 4000ms);
  CHECK(kube::backoff_delay(b, 4, 0.0) == 16000ms);
  CHECK(kube::backoff_delay(b, 5, 0.0) == 30000ms);
  CHECK(kube::backoff_delay(b, 999, 0.0) == 30000ms);
  CHECK(kube::backoff_delay(b, 5, 0.5) == 27000ms);
  // Rounded to the nearest nanosecond, not truncated below the exact value.
  CHECK(kube::backoff_delay(b, 0, 0.3) == 940ms);
  for (unsigned n = 0; n < 70; ++n) {
    for (double r : {0.0, 0.3, 0.999999}) {
      auto d = kube::backoff_delay(b, n, r);
      REQUIRE(d <= 30000ms);
      REQUIRE(d >= 800ms);
    }
  }
}

TEST_CASE("random samples outside [0,1) are clamped") {
  auto p = policy(Jitter::Full);
  CHECK(kube::backoff_delay(p, 0, -3.0) == 100ms);
  CHECK(kube::backoff_delay(p, 0, 7.0) == 0ms);
  CHECK(kube::backoff_delay(p, 0, kNaN) == 100ms);
}

TEST_CASE("degenerate policies do not misbehave") {
  // factor below 1 (or NaN) is treated as 1: constant delay.
  CHECK(kube::backoff_delay(BackoffPolicy{1s, 10s, 0.5, Jitter::None}, 5, 0) == 1s);
  CHECK(kube::backoff_delay(BackoffPolicy{1s, 10s, kNaN, Jitter::None}, 5, 0) == 1s);
  // cap below base wins.
  CHECK(kube::backoff_delay(BackoffPolicy{5s, 1s, 2.0, Jitter::None}, 0, 0) == 1s);
  CHECK(kube::backoff_delay(BackoffPolicy{0s, 1s, 2.0, Jitter::None}, 10, 0) == 0s);
  // 0 * inf would be NaN: a zero base stays zero at any attempt.
  CHECK(kube::backoff_delay(BackoffPolicy{0s, 1s, 2.0, Jitter::None}, 5000, 0) == 0s);
  CHECK(kube::backoff_delay(BackoffPolicy{-1s, 1s, 2.0, Jitter::None}, 3, 0) == 0s);
  CHECK(kube::backoff_delay(BackoffPolicy{1s, -1s, 2.0, Jitter::None}, 3, 0) == 0s);
  // The largest cap comes back exactly (no double near 2^63 is cast).
  CHECK(kube::backoff_delay(BackoffPolicy{1s, Clock::duration::max(), 2.0, Jitter::None}, 5000,
                            0) == Clock::duration::max());
  // jitter outside [0, 1] is clamped, NaN counts as none.
  CHECK(kube::backoff_delay(BackoffPolicy{1s, 10s, 2.0, 3.0}, 0, 0.5) == 500ms);
  CHECK(kube::backoff_delay(BackoffPolicy{1s, 10s, 2.0, -1.0}, 0, 0.5) == 1s);
  CHECK(kube::backoff_delay(BackoffPolicy{1s, 10s, 2.0, kNaN}, 0, 0.5) == 1s);
}

TEST_CASE("Backoff counts attempts and resets") {
  kube::Backoff b(policy(Jitter::Equal), kube::fixed_random(0.0));
  CHECK(b.attempts() == 0);
  CHECK(b.next() == 100ms);
  CHECK(b.next() == 200ms);
  CHECK(b.next() == 400ms);
  CHECK(b.attempts() == 3);
  b.reset();
  CHECK(b.attempts() == 0);
  CHECK(b.next() == 100ms);
}

TEST_CASE("Backoff uses one random sample per delay") {
  kube::Backoff b(policy(Jitter::Full), sequence({1.0, 0.5, 0.0}));
  CHECK(b.next() == 0ms);
  CHECK(b.next() == 100ms);  // 200 * (1 - 0.5)
  CHECK(b.next() == 400ms);
}

TEST_CASE("Backoff needs a random source") {
  CHECK_THROWS_AS(kube::Backoff(policy(Jitter::None), kube::Random{}), std::invalid_argument);
}
