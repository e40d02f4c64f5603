#pragma once
// Exponential backoff with jitter, and the rate limiters the work queue uses
// to space out retries of a failing key.
//
// Everything here takes its time and randomness as parameters (kube::Clock,
// kube::Random), so tests run in microseconds and get the same numbers every
// time.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/clock.hpp"

namespace kube {

enum class Jitter {
  None,   // d = min(cap, base * factor^n)
  Full,   // uniform in [0, d]: spreads a herd of clients the widest
  Equal,  // d/2 + uniform in [0, d/2]: never sooner than half of d
};

struct BackoffPolicy {
  Clock::duration base = std::chrono::milliseconds(5);
  Clock::duration cap = std::chrono::seconds(1000);
  double factor = 2.0;
  Jitter jitter = Jitter::None;
};

// The delay before retry number `attempt` (0 after the first failure).
// `u` is a uniform sample in [0, 1); values outside are clamped. Pure.
Clock::duration backoff_delay(const BackoffPolicy& p, unsigned attempt, double u);

// One retry sequence (a watcher's reconnects). Not thread-safe.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy p = {}, Random random = default_random());
  // The delay before the next retry; each call counts one more failure.
  Clock::duration next();
  void reset() { attempts_ = 0; }
  unsigned attempts() const { return attempts_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  Random random_;
  unsigned attempts_ = 0;
};

// Decides how long a key waits before it is retried. Thread-safe.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // The delay for one more retry of `key`; counts it as a failure.
  virtual Clock::duration when(const std::string& key) = 0;
  // The key succeeded: its next failure starts from the base delay again.
  virtual void forget(const std::string& key) = 0;
  // Consecutive failures counted for `key` since the last forget().
  virtual unsigned failures(const std::string& key) const = 0;
};

// Per-key exponential backoff: a key that keeps failing waits longer and
// longer, independently of the others.
class BackoffRateLimiter final : public RateLimiter {
 public:
  explicit BackoffRateLimiter(BackoffPolicy p = {}, Random random = default_random());
  Clock::duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  unsigned failures(const std::string& key) const override;

 private:
  BackoffPolicy policy_;
  Random random_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, unsigned> failures_;
};

// A token bucket shared by all keys: caps the overall retry rate so that a
// burst of failing keys cannot hammer the apiserver.
class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(double qps, double burst, std::shared_ptr<Clock> clock = system_clock());
  Clock::duration when(const std::string& key) override;
  void forget(const std::string&) override {}
  unsigned failures(const std::string&) const override { return 0; }

 private:
  double qps_;
  double burst_;
  std::shared_ptr<Clock> clock_;
  std::mutex mu_;
  double tokens_;
  Clock::time_point last_;
};

// The longest delay of several limiters; failures() is the largest count.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::shared_ptr<RateLimiter>> limiters);
  Clock::duration when(const std::string& key) override;
  void forget(const std::string& key) override;
  unsigned failures(const std::string& key) const override;

 private:
  std::vector<std::shared_ptr<RateLimiter>> limiters_;
};

// client-go's default for controllers: per key 5 ms doubling up to 1000 s,
// overall at most 10 retries per second with bursts of 100.
std::shared_ptr<RateLimiter> default_controller_rate_limiter(
    std::shared_ptr<Clock> clock = system_clock(), Random random = default_random());

// Waits `d` of real time or until `stop` is requested; returns false when
// stopped. The run loops use it between retries; tests substitute a function
// that advances a FakeClock instead.
bool interruptible_sleep(Clock::duration d, const std::stop_token& stop);
using SleepFn = std::function<bool(Clock::duration, const std::stop_token&)>;

}  // namespace kube
