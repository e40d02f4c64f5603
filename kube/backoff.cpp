#include "kube/backoff.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace kube {

namespace {

// [0, 1]; NaN counts as 0.
double clamp_unit(double u) {
  if (!(u >= 0.0)) {
    return 0.0;
  }
  return std::min(u, 1.0);
}

}  // namespace

Clock::duration backoff_delay(const BackoffPolicy& p, unsigned attempt, double u) {
  const auto cap_count = std::max(p.cap, Clock::duration::zero());
  const double base = static_cast<double>(std::max(p.base, Clock::duration::zero()).count());
  const double cap = static_cast<double>(cap_count.count());
  if (base == 0) {
    return Clock::duration::zero();
  }
  // base * factor^attempt by squaring, without std::pow (the agent links no
  // libm). Every factor is >= 1, so once d reaches the cap it stays there;
  // a square that overflows to inf also ends at the cap.
  double d = base;
  if (p.factor > 1.0) {
    double f = p.factor;
    for (unsigned n = attempt; n > 0 && d < cap; n >>= 1) {
      if (n & 1U) {
        d *= f;
      }
      f *= f;
    }
  }
  if (!(d < cap)) {
    d = cap;
  }
  d *= 1.0 - clamp_unit(p.jitter) * clamp_unit(u);
  if (!(d < cap)) {
    return cap_count;  // exact, and no double near 2^63 is cast
  }
  return Clock::duration(static_cast<Clock::duration::rep>(d + 0.5));
}

Backoff::Backoff(BackoffPolicy p, Random random) : policy_(p), random_(std::move(random)) {
  if (!random_) {
    throw std::invalid_argument("Backoff: no random source");
  }
}

Clock::duration Backoff::next() {
  auto d = backoff_delay(policy_, attempts_, random_());
  if (attempts_ < std::numeric_limits<unsigned>::max()) {
    ++attempts_;
  }
  return d;
}

}  // namespace kube
