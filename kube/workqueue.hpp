#pragma once
// A work queue of object keys ("namespace/name"), shaped like client-go's.
//
// The queue carries requests, never events: a key added while it is already
// queued is queued once; a key re-added while a worker processes it is queued
// again only when that worker calls done(), so two workers never hold the same
// key. Delayed adds (add_after, add_rate_limited) wait in a heap ordered by
// the injected Clock and become ready when a get(), len() or
// process_delayed() call sees their time has come, so tests drive them with a
// FakeClock: advance it, call process_delayed(), then try_get().

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kube/clock.hpp"
#include "kube/rate_limiter.hpp"

namespace kube {

class WorkQueue {
 public:
  // limiter null = default_controller_rate_limiter(clock).
  explicit WorkQueue(std::shared_ptr<Clock> clock = system_clock(),
                     std::shared_ptr<RateLimiter> limiter = nullptr);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Ignored after shut_down().
  void add(const std::string& key);
  // delay <= 0 adds at once. A key already waiting keeps the earlier time.
  void add_after(const std::string& key, Clock::duration delay);
  // add_after(key, limiter.when(key)).
  void add_rate_limited(const std::string& key);
  // Clears the key's failure count in the rate limiter.
  void forget(const std::string& key);
  unsigned num_requeues(const std::string& key) const;

  // Blocks until a key is ready or the queue shuts down (nullopt). The caller
  // owns the key until done(key).
  std::optional<std::string> get();
  // As get(), giving up after `timeout` of real time.
  std::optional<std::string> get_for(std::chrono::nanoseconds timeout);
  // Never blocks.
  std::optional<std::string> try_get();
  void done(const std::string& key);

  // Moves delayed keys whose time has come (by the Clock) to the ready queue
  // and wakes blocked getters. Returns how many were moved. get() does this
  // itself; call it after advancing a FakeClock.
  size_t process_delayed();
  // When the earliest delayed key becomes ready, if any.
  std::optional<Clock::time_point> next_ready_time();

  // Wakes every blocked get(); from now on get() returns nullopt and adds are
  // ignored. Keys being processed may still be done().
  void shut_down();
  bool shutting_down() const;

  // Ready keys (after moving due delayed ones); excludes keys in process.
  size_t len();
  size_t delayed_len() const;
  size_t processing_len() const;

 private:
  struct Waiting {
    Clock::time_point due;
    uint64_t seq;  // FIFO among equal times
    std::string key;
    bool operator>(const Waiting& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };

  void add_locked(const std::string& key);
  size_t promote_locked(Clock::time_point now);
  void drop_stale_locked();
  std::string pop_locked();
  // How long a blocked get() may sleep before it must look at the heap again.
  std::chrono::nanoseconds wait_budget_locked(Clock::time_point now) const;

  std::shared_ptr<Clock> clock_;
  std::shared_ptr<RateLimiter> limiter_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;               // ready, in order
  std::unordered_set<std::string> dirty_;       // needs processing (queued or re-added)
  std::unordered_set<std::string> processing_;  // handed out, not yet done()
  std::priority_queue<Waiting, std::vector<Waiting>, std::greater<>> heap_;
  std::unordered_map<std::string, Clock::time_point> waiting_;  // key -> its live heap entry
  uint64_t seq_ = 0;
  bool shutting_down_ = false;
};

}  // namespace kube
