#include <doctest/doctest.h>

#include <thread>

#include "webhook/cpu_budget.hpp"

namespace {

using gtoken::webhook::usable_cpus;
using std::nullopt;

TEST_CASE("usable_cpus: the affinity mask, else the hardware count") {
  CHECK(usable_cpus(3, 8, nullopt, nullopt, nullopt) == 3);
  CHECK(usable_cpus(0, 8, nullopt, nullopt, nullopt) == 8);
  CHECK(usable_cpus(0, 0, nullopt, nullopt, nullopt) == 1);
}

TEST_CASE("usable_cpus: cgroup v2 cpu.max caps it, rounded up") {
  CHECK(usable_cpus(8, 8, "max 100000\n", nullopt, nullopt) == 8);
  CHECK(usable_cpus(8, 8, "100000 100000\n", nullopt, nullopt) == 1);
  CHECK(usable_cpus(8, 8, "150000 100000\n", nullopt, nullopt) == 2);
  CHECK(usable_cpus(8, 8, "50000 100000", nullopt, nullopt) == 1);  // half a CPU: one thread
  CHECK(usable_cpus(2, 8, "400000 100000", nullopt, nullopt) == 2);  // the mask is smaller
  CHECK(usable_cpus(4, 8, "garbage", nullopt, nullopt) == 4);
  CHECK(usable_cpus(4, 8, "0 100000", nullopt, nullopt) == 4);
}

TEST_CASE("usable_cpus: cgroup v1 quota and period when there is no cpu.max") {
  CHECK(usable_cpus(8, 8, nullopt, "-1\n", "100000\n") == 8);
  CHECK(usable_cpus(8, 8, nullopt, "200000\n", "100000\n") == 2);
  CHECK(usable_cpus(8, 8, nullopt, "250000", "100000") == 3);
  CHECK(usable_cpus(8, 8, nullopt, "200000", nullopt) == 8);
  // v2 wins when both are readable.
  CHECK(usable_cpus(8, 8, "max 100000", "100000", "100000") == 8);
}

TEST_CASE("available_cpus: at least one, at most the hardware's") {
  const int n = gtoken::webhook::available_cpus();
  CHECK(n >= 1);
  CHECK(n <= static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

}  // namespace
