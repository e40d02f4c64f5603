#include "agent/schedule.hpp"

#include <algorithm>

#include "kube/duration.hpp"

namespace gtoken::agent {

namespace {

using Dur = TimePoint::duration;

Dur scale(Dur d, double f) {
  return Dur(static_cast<Dur::rep>(kube::round_half_away(static_cast<double>(d.count()) * f)));
}

double clamp01(double r) {
  return std::isfinite(r) ? std::clamp(r, 0.0, 0.999999) : 0.0;
}

}  // namespace

TimePoint next_refresh(TimePoint now, std::optional<TimePoint> iat, TimePoint exp,
                       const kube::Random& random, const RefreshPolicy& policy) {
  const Dur min_delay = std::chrono::duration_cast<Dur>(policy.min_delay);
  const double r = clamp01(random ? random() : 0.0);
  const TimePoint earliest = now + min_delay;
  if (exp <= now) {
    return earliest;
  }

  TimePoint start = now;
  if (iat && *iat < exp && *iat <= now + kMaxIatSkew) {
    start = *iat;
  }
  const Dur lifetime = exp - start;

  Dur keep = policy.keep_duration.count() > 0
                 ? std::chrono::duration_cast<Dur>(policy.keep_duration)
                 : scale(lifetime, std::clamp(policy.keep_fraction, 0.0, 1.0));
  Dur jitter = scale(lifetime, std::clamp(policy.jitter_fraction, 0.0, 1.0) * r);
  TimePoint at = (keep + jitter >= lifetime) ? start : exp - keep - jitter;
  if (at >= earliest) {
    return at;
  }

  // Late path: the planned point has passed (cached or short-lived token).
  Dur left = exp - now;
  TimePoint late = now + scale(left, 0.5 - 0.1 * r);
  return std::max(late, earliest);
}

}  // namespace gtoken::agent
