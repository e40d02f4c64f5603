#include "webhook/cpu_budget.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "webhook/text.hpp"

namespace gtoken::webhook {

namespace {

std::optional<long long> parse_count(std::string_view text) {
  text = trim(text);
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Quota over period, rounded up; nullopt when there is no quota.
std::optional<int> by_quota(std::optional<long long> quota, std::optional<long long> period) {
  if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
  return static_cast<int>(std::min<long long>((*quota + *period - 1) / *period, 1 << 20));
}

std::optional<std::string> read_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int usable_cpus(int affinity, int hardware, std::optional<std::string_view> cpu_max,
                std::optional<std::string_view> cfs_quota_us,
                std::optional<std::string_view> cfs_period_us) {
  int n = affinity > 0 ? affinity : hardware;
  std::optional<int> quota;
  if (cpu_max) {
    const std::string_view line = trim(*cpu_max);
    const auto space = line.find(' ');
    if (space != std::string_view::npos) {
      quota = by_quota(parse_count(line.substr(0, space)), parse_count(line.substr(space + 1)));
    }
  } else if (cfs_quota_us && cfs_period_us) {
    quota = by_quota(parse_count(*cfs_quota_us), parse_count(*cfs_period_us));
  }
  if (quota && (n <= 0 || *quota < n)) n = *quota;
  return std::max(1, n);
}

int available_cpus() {
  int affinity = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) affinity = CPU_COUNT(&set);
  const auto v2 = read_file("/sys/fs/cgroup/cpu.max");
  const auto v1_quota = v2 ? std::nullopt : read_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  const auto v1_period = v2 ? std::nullopt : read_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  const auto view = [](const std::optional<std::string>& s) {
    return s ? std::optional<std::string_view>(*s) : std::nullopt;
  };
  return usable_cpus(affinity, static_cast<int>(std::thread::hardware_concurrency()), view(v2),
                     view(v1_quota), view(v1_period));
}

}  // namespace gtoken::webhook
