// kube/clock: interruptible_sleep (the run loops' wait between retries).
#include <doctest/doctest.h>

#include <chrono>
#include <stop_token>
#include <thread>

#include "kube/clock.hpp"

using namespace std::chrono_literals;

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
