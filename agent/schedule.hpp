#pragma once
// When to fetch the next token (the wait after a failure is the shared
// kube/backoff.hpp). Pure functions of their arguments: time and randomness
// come in.
//
// Refresh point (see docs/agent.md, "Refresh timing"):
//   start = iat (if present and plausible) else now;  L = exp - start
//   B     = keep * L           (fraction policy, default keep = 0.4)
//         | keep_duration       (duration policy, --refresh-before 20m)
//   J     = jitter * L * r      (jitter = 0.1, r uniform in [0,1))
//   at    = exp - B - J
// With the defaults a fresh token is replaced after 50-60% of its lifetime
// (30-36 min into a 60 min Google token), leaving 24-30 min of validity for
// the SDKs that read the file. If that point is already (nearly) past, e.g.
// the server handed back a cached token, the "late path" waits
// (0.4 + 0.1 r) of the time the token has left (at least min_delay), so
// retries thin out instead of hammering the metadata server.

#include <chrono>

#include "agent/jwt.hpp"
#include "kube/clock.hpp"

namespace gtoken::agent {

struct RefreshPolicy {
  double keep_fraction = 0.4;                  // of the lifetime left at refresh
  std::chrono::milliseconds keep_duration{0};  // non-zero: overrides keep_fraction
  double jitter_fraction = 0.1;                // of the lifetime, always earlier
  std::chrono::milliseconds min_delay{1000};   // never schedule closer than this
};

// An `iat` later than now + this is treated as clock skew and ignored.
inline constexpr std::chrono::minutes kMaxIatSkew{5};

TimePoint next_refresh(TimePoint now, std::optional<TimePoint> iat, TimePoint exp,
                       const kube::Random& random, const RefreshPolicy& policy = {});

}  // namespace gtoken::agent
