#include "kube/clock.hpp"

#include <algorithm>
#include <condition_variable>
#include <thread>

namespace kube {

void SystemClock::sleep_for(duration d) { std::this_thread::sleep_for(d); }

std::shared_ptr<Clock> system_clock() {
  static auto c = std::make_shared<SystemClock>();
  return c;
}

Random default_random() {
  auto gen = std::make_shared<std::mt19937_64>(std::random_device{}());
  auto mu = std::make_shared<std::mutex>();
  return [gen, mu] {
    std::lock_guard lock(*mu);
    return std::uniform_real_distribution<double>(0.0, 1.0)(*gen);
  };
}

bool interruptible_sleep(Clock::duration d, const std::stop_token& stop) {
  if (stop.stop_requested()) {
    return false;
  }
  if (d <= Clock::duration::zero()) {
    return true;
  }
  // wait_for adds d to steady_clock::now(); keep the sum far from overflow.
  d = std::min<Clock::duration>(d, std::chrono::hours(24 * 365));
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace kube
