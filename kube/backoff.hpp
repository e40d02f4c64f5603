#pragma once
// The one exponential backoff of gtoken: the operator's and the webhook's
// retries (work queue, watcher, IAM read-modify-write, certificate writes),
// the operator's start-up wait for its GSA, and the agent's token retries.
//
// Pure: time and randomness come in as parameters, so tests get the same
// numbers every time. Part of gtoken_base (no libm, no threads), so the
// agent links it; the rate limiters built on it are kube/rate_limiter.hpp.

#include <chrono>

#include "kube/clock.hpp"

namespace kube {

// How much of a delay is random. With u uniform in [0, 1):
//   delay = d * (1 - jitter * u)
// so jitter only ever shortens d, and u = 0 gives d exactly.
struct Jitter {
  static constexpr double None = 0.0;   // exactly d
  static constexpr double Equal = 0.5;  // in (d/2, d]: never sooner than half of d
  static constexpr double Full = 1.0;   // in (0, d]: spreads a herd of clients the widest
};

struct BackoffPolicy {
  Clock::duration base = std::chrono::milliseconds(5);
  Clock::duration cap = std::chrono::seconds(1000);
  double factor = 2.0;           // below 1 counts as 1 (a constant delay)
  double jitter = Jitter::None;  // in [0, 1], see Jitter
};

// The delay before retry number `attempt` (0 after the first failure):
//   d = min(cap, base * factor^attempt), then jittered with the sample `u`
// (values outside [0, 1] are clamped, NaN counts as 0). Rounded to the
// nearest nanosecond.
Clock::duration backoff_delay(const BackoffPolicy& p, unsigned attempt, double u);

// One retry sequence (a watcher's reconnects). Not thread-safe.
class Backoff {
 public:
  Backoff(BackoffPolicy p, Random random);
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

}  // namespace kube
