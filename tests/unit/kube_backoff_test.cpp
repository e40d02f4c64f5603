#include <doctest/doctest.h>

#include <chrono>
#include <limits>
#include <stop_token>
#include <thread>
#include <vector>

#include "kube/backoff.hpp"

using namespace std::chrono_literals;
using kube::BackoffPolicy;
using kube::Clock;
using kube::Jitter;

namespace {

BackoffPolicy policy(Jitter j) {
  return BackoffPolicy{100ms, 10s, 2.0, j};
}

// Returns the values in order, then repeats the last.
kube::Random sequence(std::vector<double> values) {
  auto next = std::make_shared<size_t>(0);
  return [values, next] {
    double v = values[std::min(*next, values.size() - 1)];
    ++*next;
    return v;
  };
}

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

TEST_CASE("full jitter spreads the delay over [0, d]") {
  auto p = policy(Jitter::Full);
  CHECK(kube::backoff_delay(p, 2, 0.0) == 0ms);
  CHECK(kube::backoff_delay(p, 2, 0.5) == 200ms);
  CHECK(kube::backoff_delay(p, 2, 0.25) == 100ms);
  CHECK(kube::backoff_delay(p, 2, 1.0) == 400ms);
  CHECK(kube::backoff_delay(p, 50, 0.5) == 5s);  // half the cap
}

TEST_CASE("equal jitter keeps at least half of d") {
  auto p = policy(Jitter::Equal);
  CHECK(kube::backoff_delay(p, 2, 0.0) == 200ms);
  CHECK(kube::backoff_delay(p, 2, 0.5) == 300ms);
  CHECK(kube::backoff_delay(p, 2, 1.0) == 400ms);
  CHECK(kube::backoff_delay(p, 50, 0.0) == 5s);
}

TEST_CASE("random samples outside [0,1) are clamped") {
  auto p = policy(Jitter::Full);
  CHECK(kube::backoff_delay(p, 0, -3.0) == 0ms);
  CHECK(kube::backoff_delay(p, 0, 7.0) == 100ms);
  CHECK(kube::backoff_delay(p, 0, std::numeric_limits<double>::quiet_NaN()) == 0ms);
}

TEST_CASE("degenerate policies do not misbehave") {
  // factor below 1 is treated as 1: constant delay.
  CHECK(kube::backoff_delay(BackoffPolicy{1s, 10s, 0.5, Jitter::None}, 5, 0) == 1s);
  // cap below base wins.
  CHECK(kube::backoff_delay(BackoffPolicy{5s, 1s, 2.0, Jitter::None}, 0, 0) == 1s);
  CHECK(kube::backoff_delay(BackoffPolicy{0s, 1s, 2.0, Jitter::None}, 10, 0) == 0s);
}

TEST_CASE("Backoff counts attempts and resets") {
  kube::Backoff b(policy(Jitter::Equal), kube::fixed_random(0.0));
  CHECK(b.attempts() == 0);
  CHECK(b.next() == 50ms);
  CHECK(b.next() == 100ms);
  CHECK(b.next() == 200ms);
  CHECK(b.attempts() == 3);
  b.reset();
  CHECK(b.attempts() == 0);
  CHECK(b.next() == 50ms);
}

TEST_CASE("Backoff uses one random sample per delay") {
  kube::Backoff b(policy(Jitter::Full), sequence({1.0, 0.5, 0.0}));
  CHECK(b.next() == 100ms);
  CHECK(b.next() == 100ms);  // 200 * 0.5
  CHECK(b.next() == 0ms);
}

TEST_CASE("BackoffRateLimiter tracks failures per key") {
  kube::BackoffRateLimiter rl(policy(Jitter::None), kube::fixed_random(0.5));
  CHECK(rl.failures("a") == 0);
  CHECK(rl.when("a") == 100ms);
  CHECK(rl.when("a") == 200ms);
  CHECK(rl.when("a") == 400ms);
  CHECK(rl.failures("a") == 3);

  SUBCASE("keys are independent") {
    CHECK(rl.when("b") == 100ms);
    CHECK(rl.failures("b") == 1);
    CHECK(rl.failures("a") == 3);
  }
  SUBCASE("forget starts over") {
    rl.forget("a");
    CHECK(rl.failures("a") == 0);
    CHECK(rl.when("a") == 100ms);
  }
  SUBCASE("forgetting an unknown key is harmless") {
    rl.forget("nope");
    CHECK(rl.failures("a") == 3);
  }
}

TEST_CASE("BackoffRateLimiter with jitter draws from the injected random") {
  kube::BackoffRateLimiter rl(policy(Jitter::Full), sequence({0.25, 0.75}));
  CHECK(rl.when("k") == 25ms);
  CHECK(rl.when("k") == 150ms);
}

TEST_CASE("BucketRateLimiter allows a burst, then spaces by qps") {
  auto clock = std::make_shared<kube::FakeClock>();
  kube::BucketRateLimiter rl(10.0, 3.0, clock);
  CHECK(rl.when("a") == 0ms);
  CHECK(rl.when("b") == 0ms);
  CHECK(rl.when("c") == 0ms);
  CHECK(rl.when("d") == 100ms);
  CHECK(rl.when("e") == 200ms);  // reservations queue up
  clock->advance(1s);            // refills 10 tokens, capped at burst 3 (balance was -2)
  CHECK(rl.when("f") == 0ms);
  CHECK(rl.when("g") == 0ms);
  CHECK(rl.when("h") == 0ms);
  CHECK(rl.when("i") == 100ms);
  CHECK(rl.failures("i") == 0);
}

TEST_CASE("BucketRateLimiter ignores a clock going backwards") {
  auto clock = std::make_shared<kube::FakeClock>();
  kube::BucketRateLimiter rl(1.0, 1.0, clock);
  CHECK(rl.when("a") == 0ms);
  clock->advance(-10s);
  CHECK(rl.when("a") == 1s);
  clock->advance(12s);
  CHECK(rl.when("a") == 0ms);
}

TEST_CASE("BucketRateLimiter rejects nonsense") {
  CHECK_THROWS_AS(kube::BucketRateLimiter(0.0, 1.0), std::invalid_argument);
  CHECK_THROWS_AS(kube::BucketRateLimiter(1.0, 0.5), std::invalid_argument);
}

TEST_CASE("MaxOfRateLimiter takes the longest delay") {
  auto clock = std::make_shared<kube::FakeClock>();
  auto per_key =
      std::make_shared<kube::BackoffRateLimiter>(policy(Jitter::None), kube::fixed_random(0));
  auto bucket = std::make_shared<kube::BucketRateLimiter>(1.0, 1.0, clock);
  kube::MaxOfRateLimiter rl({per_key, bucket});
  CHECK(rl.when("a") == 100ms);  // per key 100ms, bucket 0
  CHECK(rl.when("b") == 1s);     // per key 100ms, bucket 1s
  CHECK(rl.failures("a") == 1);
  rl.forget("a");
  CHECK(rl.failures("a") == 0);
  CHECK(per_key->failures("b") == 1);
}

TEST_CASE("default controller rate limiter: 5ms doubling per key") {
  auto clock = std::make_shared<kube::FakeClock>();
  auto rl = kube::default_controller_rate_limiter(clock, kube::fixed_random(0.5));
  CHECK(rl->when("a") == 5ms);
  CHECK(rl->when("a") == 10ms);
  CHECK(rl->when("a") == 20ms);
  CHECK(rl->failures("a") == 3);
  rl->forget("a");
  CHECK(rl->when("a") == 5ms);
}

TEST_CASE("interruptible_sleep returns at once when stopped") {
  std::stop_source src;
  CHECK(kube::interruptible_sleep(0ms, src.get_token()));
  CHECK(kube::interruptible_sleep(1ms, src.get_token()));
  src.request_stop();
  // Would be a day if the stop were not honoured.
  CHECK_FALSE(kube::interruptible_sleep(24h, src.get_token()));
}

TEST_CASE("interruptible_sleep wakes when stop is requested from another thread") {
  std::stop_source src;
  std::jthread t([&] {
    std::this_thread::sleep_for(20ms);
    src.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(kube::interruptible_sleep(1h, src.get_token()));
  CHECK(std::chrono::steady_clock::now() - start < 30s);
}
