#pragma once
// How many CPUs this process may use, for thread defaults: a pod limited to
// one CPU on a 64-core node must not start 64 threads that queue on it.

#include <optional>
#include <string_view>

namespace gtoken::webhook {

// The pure rule: `affinity` CPUs in the affinity mask (0: unknown, then
// `hardware`), capped by a CFS quota rounded up: cgroup v2's cpu.max
// ("max 100000" or "<quota> <period>"), else cgroup v1's cpu.cfs_quota_us
// (-1: none) over cpu.cfs_period_us. Files that are absent are nullopt.
// At least 1.
int usable_cpus(int affinity, int hardware, std::optional<std::string_view> cpu_max,
                std::optional<std::string_view> cfs_quota_us,
                std::optional<std::string_view> cfs_period_us);

// usable_cpus for this process: sched_getaffinity, and the files of the
// cgroup it sees at /sys/fs/cgroup (a container's own, with a cgroup
// namespace, as every container runtime sets up on cgroup v2).
int available_cpus();

}  // namespace gtoken::webhook
