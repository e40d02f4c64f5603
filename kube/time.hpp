#pragma once
// Kubernetes timestamps: metav1.Time, metav1.MicroTime, and RFC 3339 parsing.
// Pure (no IO), shared by the kube library, the operator and the agent.

#include <optional>
#include <string>
#include <string_view>

#include "kube/clock.hpp"

namespace kube {

// metav1.Time: "2006-01-02T15:04:05Z" (UTC, whole seconds).
std::string format_rfc3339(Clock::time_point t);
// metav1.MicroTime: "2006-01-02T15:04:05.000000Z" (UTC, microseconds).
std::string format_micro_time(Clock::time_point t);
// RFC 3339 with optional fraction and a Z or ±hh:mm offset; nullopt if not.
std::optional<Clock::time_point> parse_rfc3339(std::string_view s);

}  // namespace kube
