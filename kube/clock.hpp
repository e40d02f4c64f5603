#pragma once
// Injected time and randomness, so backoff, lease, refresh and rotation logic
// is unit-tested in microseconds instead of minutes.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <stop_token>

namespace kube {

class Clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  using duration = std::chrono::nanoseconds;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // Sleeps up to d, returning early (true) if wake() is called.
  virtual void sleep_for(duration d) = 0;
};

class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
  void sleep_for(duration d) override;
};

std::shared_ptr<Clock> system_clock();

// Manually advanced clock for tests: sleep_for advances time immediately.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(time_point start = time_point{} + std::chrono::hours(24 * 365 * 50))
      : now_(start) {}
  time_point now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void sleep_for(duration d) override { advance(d); }
  void advance(duration d) {
    std::lock_guard lock(mu_);
    now_ += std::chrono::duration_cast<time_point::duration>(d);
  }
  void set(time_point t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  time_point now_;
};

// Uniform random source in [0,1); injected for jitter.
using Random = std::function<double()>;
Random default_random();
inline Random fixed_random(double v) {
  return [v] { return v; };
}

// Waits `d` of real time or until `stop` is requested; returns false when
// stopped. The run loops use it between retries; tests substitute a function
// that advances a FakeClock instead.
bool interruptible_sleep(Clock::duration d, const std::stop_token& stop);
using SleepFn = std::function<bool(Clock::duration, const std::stop_token&)>;

}  // namespace kube
