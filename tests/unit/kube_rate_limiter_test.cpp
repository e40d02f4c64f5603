// kube/rate_limiter: the work queue's limiters on the one backoff.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <vector>

#include "kube/rate_limiter.hpp"
#include "tests/unit/kube_backoff_samples.hpp"

using namespace std::chrono_literals;
using kube::BackoffPolicy;
using kube::Clock;
using kube::Jitter;

using backoff_samples::policy;
using backoff_samples::sequence;

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
  CHECK(rl.when("k") == 75ms);  // 100 * (1 - 0.25)
  CHECK(rl.when("k") == 50ms);  // 200 * (1 - 0.75)
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
