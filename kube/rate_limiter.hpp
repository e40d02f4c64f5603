#pragma once
// The rate limiters the work queue uses to space out retries of a failing
// key, on the one backoff (kube/backoff.hpp).
//
// Everything here takes its time and randomness as parameters (kube::Clock,
// kube::Random), so tests run in microseconds and get the same numbers every
// time.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/backoff.hpp"
#include "kube/clock.hpp"

namespace kube {

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

// client-go's default for controllers: per key 5 ms doubling up to
// `per_key_cap` (client-go: 1000 s), overall at most 10 retries per second
// with bursts of 100.
std::shared_ptr<RateLimiter> default_controller_rate_limiter(
    std::shared_ptr<Clock> clock = system_clock(), Random random = default_random(),
    Clock::duration per_key_cap = std::chrono::seconds(1000));

}  // namespace kube
