#pragma once
// A stop request that wakes sleepers at once: the refresh loop sleeps here
// for up to 30 s at a time, and the signal thread calls request_stop().

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace gtoken::agent {

class StopSignal {
 public:
  void request_stop();
  bool stop_requested() const;
  // Sleeps up to d (real time). Returns false if a stop was requested before
  // or during the wait, true if the full time passed.
  bool wait_for(std::chrono::nanoseconds d);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace gtoken::agent
