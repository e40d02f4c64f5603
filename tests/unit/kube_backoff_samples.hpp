#pragma once
// What the backoff and rate-limiter tests share: one policy shape and a
// scripted random source, so each expected delay is exact.

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "kube/backoff.hpp"

namespace backoff_samples {

using namespace std::chrono_literals;

// 100 ms doubling to 10 s, with the given jitter share.
inline kube::BackoffPolicy policy(double jitter) {
  return kube::BackoffPolicy{100ms, 10s, 2.0, jitter};
}

// Returns the values in order, then repeats the last.
inline kube::Random sequence(std::vector<double> values) {
  auto next = std::make_shared<size_t>(0);
  return [values, next] {
    double v = values[std::min(*next, values.size() - 1)];
    ++*next;
    return v;
  };
}

}  // namespace backoff_samples
