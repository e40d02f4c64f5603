#pragma once
// A few threads of their own for the admission work that may block (the live
// ServiceAccount read on a cache miss), so that the server's I/O threads
// never wait on the apiserver: a slow miss delays only itself, never the
// cache hits behind it on the same threads.
//
// Bounded everywhere: a fixed number of threads, a queue of at most
// `queue_limit` jobs (submit refuses beyond it), and a deadline per job from
// its submission. A job still queued at its deadline is dropped unrun; a job
// still running at its deadline is not interrupted, but its `expired` runs
// then (on the pool's watchdog thread), so the caller can answer without it.
// The caller answers at most once (the server's responder ignores a second
// answer), so a late `work` finishing after `expired` is harmless.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace gtoken::webhook {

struct LookupPoolOptions {
  int threads = 4;
  std::size_t queue_limit = 64;
  // From submit to an answer: queue wait plus the work itself.
  std::chrono::milliseconds deadline{3000};
};

class LookupPool {
 public:
  explicit LookupPool(LookupPoolOptions options);
  // stop().
  ~LookupPool();
  LookupPool(const LookupPool&) = delete;
  LookupPool& operator=(const LookupPool&) = delete;

  // Queues `work` for a pool thread. False, and nothing runs, when the queue
  // is full or the pool is stopping. Otherwise `work` runs at most once, and
  // `expired` runs at most once, at the deadline, when `work` has not
  // returned by then (never started, or still running). Around the deadline
  // both may run; the caller keeps the first answer.
  bool submit(std::function<void()> work, std::function<void()> expired);

  // Stops taking jobs, drops the queued ones (neither function runs; their
  // captures are destroyed), waits for running work, joins the threads.
  void stop();

  std::size_t queued() const;
  std::size_t running() const;
  std::uint64_t expired_count() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Job {
    std::uint64_t id;
    Clock::time_point deadline;
    std::function<void()> work;
    std::function<void()> expired;
  };

  void worker();
  void watchdog();

  LookupPoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable watch_cv_;
  std::deque<Job> queue_;
  // Started and not finished: id → (deadline, expired).
  std::map<std::uint64_t, std::pair<Clock::time_point, std::function<void()>>> running_;
  std::uint64_t next_id_ = 0;
  std::uint64_t expired_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::thread watchdog_;
};

}  // namespace gtoken::webhook
