#include "kube/rate_limiter.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace kube {

BackoffRateLimiter::BackoffRateLimiter(BackoffPolicy p, Random random)
    : policy_(p), random_(std::move(random)) {
  if (!random_) {
    throw std::invalid_argument("BackoffRateLimiter: no random source");
  }
}

Clock::duration BackoffRateLimiter::when(const std::string& key) {
  unsigned attempt = 0;
  {
    std::lock_guard lock(mu_);
    unsigned& n = failures_[key];
    attempt = n;
    if (n < std::numeric_limits<unsigned>::max()) {
      ++n;
    }
  }
  // Random may take its own lock; call it outside ours.
  return backoff_delay(policy_, attempt, random_());
}

void BackoffRateLimiter::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

unsigned BackoffRateLimiter::failures(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(double qps, double burst, std::shared_ptr<Clock> clock)
    : qps_(qps), burst_(burst), clock_(std::move(clock)), tokens_(burst) {
  if (!(qps > 0) || !(burst >= 1)) {
    throw std::invalid_argument("BucketRateLimiter: qps must be > 0 and burst >= 1");
  }
  if (!clock_) {
    throw std::invalid_argument("BucketRateLimiter: no clock");
  }
  last_ = clock_->now();
}

Clock::duration BucketRateLimiter::when(const std::string&) {
  std::lock_guard lock(mu_);
  const auto now = clock_->now();
  // A clock set backwards refills nothing rather than draining the bucket.
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  // Reserve a token now; a negative balance is the queue of waiting retries.
  tokens_ -= 1;
  if (tokens_ >= 0) {
    return Clock::duration::zero();
  }
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(-tokens_ / qps_));
}

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::shared_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {
  for (const auto& l : limiters_) {
    if (!l) {
      throw std::invalid_argument("MaxOfRateLimiter: null limiter");
    }
  }
}

Clock::duration MaxOfRateLimiter::when(const std::string& key) {
  auto d = Clock::duration::zero();
  for (const auto& l : limiters_) {
    d = std::max(d, l->when(key));
  }
  return d;
}

void MaxOfRateLimiter::forget(const std::string& key) {
  for (const auto& l : limiters_) {
    l->forget(key);
  }
}

unsigned MaxOfRateLimiter::failures(const std::string& key) const {
  unsigned n = 0;
  for (const auto& l : limiters_) {
    n = std::max(n, l->failures(key));
  }
  return n;
}

std::shared_ptr<RateLimiter> default_controller_rate_limiter(std::shared_ptr<Clock> clock,
                                                             Random random,
                                                             Clock::duration per_key_cap) {
  BackoffPolicy per_key{std::chrono::milliseconds(5), per_key_cap, 2.0, Jitter::None};
  return std::make_shared<MaxOfRateLimiter>(std::vector<std::shared_ptr<RateLimiter>>{
      std::make_shared<BackoffRateLimiter>(per_key, std::move(random)),
      std::make_shared<BucketRateLimiter>(10.0, 100.0, std::move(clock))});
}

}  // namespace kube
