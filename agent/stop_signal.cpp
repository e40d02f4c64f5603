#include "agent/stop_signal.hpp"

namespace gtoken::agent {

void StopSignal::request_stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool StopSignal::stop_requested() const {
  std::lock_guard lock(mu_);
  return stop_;
}

bool StopSignal::wait_for(std::chrono::nanoseconds d) {
  std::unique_lock lock(mu_);
  if (d.count() > 0) {
    cv_.wait_for(lock, d, [this] { return stop_; });
  }
  return !stop_;
}

}  // namespace gtoken::agent
