#include "kube/workqueue.hpp"

#include <algorithm>
#include <stdexcept>

namespace kube {

namespace {

// A blocked get() re-reads the clock at least this often, so a wall clock
// that jumps (or a FakeClock advanced without process_delayed) cannot park a
// worker for the whole original delay.
constexpr std::chrono::nanoseconds kMaxWait = std::chrono::seconds(1);

}  // namespace

WorkQueue::WorkQueue(std::shared_ptr<Clock> clock, std::shared_ptr<RateLimiter> limiter)
    : clock_(std::move(clock)), limiter_(std::move(limiter)) {
  if (!clock_) {
    throw std::invalid_argument("WorkQueue: no clock");
  }
  if (!limiter_) {
    limiter_ = default_controller_rate_limiter(clock_);
  }
}

WorkQueue::~WorkQueue() {
  shut_down();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  add_locked(key);
}

void WorkQueue::add_locked(const std::string& key) {
  if (shutting_down_) {
    return;
  }
  if (!dirty_.insert(key).second) {
    return;  // already queued or awaiting re-queue
  }
  // In process: done() queues it, so one key never has two workers.
  if (processing_.contains(key)) {
    return;
  }
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::add_after(const std::string& key, Clock::duration delay) {
  if (delay <= Clock::duration::zero()) {
    add(key);
    return;
  }
  const auto due = clock_->now() + std::chrono::duration_cast<Clock::time_point::duration>(delay);
  std::lock_guard lock(mu_);
  if (shutting_down_) {
    return;
  }
  auto [it, inserted] = waiting_.try_emplace(key, due);
  if (!inserted) {
    if (it->second <= due) {
      return;  // the earlier wake-up stands
    }
    it->second = due;  // the old heap entry is now stale
  }
  heap_.push(Waiting{due, seq_++, key});
  // A sleeping getter may be waiting for a later entry; let it recompute.
  cv_.notify_one();
}

void WorkQueue::add_rate_limited(const std::string& key) {
  add_after(key, limiter_->when(key));
}

void WorkQueue::forget(const std::string& key) {
  limiter_->forget(key);
}

unsigned WorkQueue::num_requeues(const std::string& key) const {
  return limiter_->failures(key);
}

void WorkQueue::drop_stale_locked() {
  while (!heap_.empty()) {
    const Waiting& top = heap_.top();
    auto it = waiting_.find(top.key);
    if (it != waiting_.end() && it->second == top.due) {
      return;
    }
    heap_.pop();
  }
}

size_t WorkQueue::promote_locked(Clock::time_point now) {
  size_t moved = 0;
  for (drop_stale_locked(); !heap_.empty() && heap_.top().due <= now; drop_stale_locked()) {
    std::string key = heap_.top().key;
    heap_.pop();
    waiting_.erase(key);
    add_locked(key);
    ++moved;
  }
  return moved;
}

std::string WorkQueue::pop_locked() {
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

std::chrono::nanoseconds WorkQueue::wait_budget_locked(Clock::time_point now) const {
  if (heap_.empty()) {
    return kMaxWait;
  }
  auto until = std::chrono::duration_cast<std::chrono::nanoseconds>(heap_.top().due - now);
  return std::clamp(until, std::chrono::nanoseconds(1), kMaxWait);
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (shutting_down_) {
      return std::nullopt;
    }
    const auto now = clock_->now();
    promote_locked(now);
    if (!queue_.empty()) {
      return pop_locked();
    }
    if (heap_.empty()) {
      cv_.wait(lock);
    } else {
      cv_.wait_for(lock, wait_budget_locked(now));
    }
  }
}

std::optional<std::string> WorkQueue::get_for(std::chrono::nanoseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    if (shutting_down_) {
      return std::nullopt;
    }
    const auto now = clock_->now();
    promote_locked(now);
    if (!queue_.empty()) {
      return pop_locked();
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) {
      return std::nullopt;
    }
    cv_.wait_for(lock, std::min<std::chrono::nanoseconds>(left, wait_budget_locked(now)));
  }
}

std::optional<std::string> WorkQueue::try_get() {
  std::lock_guard lock(mu_);
  if (shutting_down_) {
    return std::nullopt;
  }
  promote_locked(clock_->now());
  if (queue_.empty()) {
    return std::nullopt;
  }
  return pop_locked();
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  if (processing_.erase(key) == 0) {
    return;
  }
  // Re-added while in process: its turn comes now. After shut_down the key
  // stays dirty but nobody will get() it, which is what shutting down means.
  if (dirty_.contains(key) && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

size_t WorkQueue::process_delayed() {
  std::lock_guard lock(mu_);
  const size_t moved = promote_locked(clock_->now());
  if (moved > 0) {
    cv_.notify_all();
  }
  return moved;
}

std::optional<Clock::time_point> WorkQueue::next_ready_time() {
  std::lock_guard lock(mu_);
  drop_stale_locked();
  if (heap_.empty()) {
    return std::nullopt;
  }
  return heap_.top().due;
}

void WorkQueue::shut_down() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  cv_.notify_all();
}

bool WorkQueue::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::len() {
  std::lock_guard lock(mu_);
  promote_locked(clock_->now());
  return queue_.size();
}

size_t WorkQueue::delayed_len() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

size_t WorkQueue::processing_len() const {
  std::lock_guard lock(mu_);
  return processing_.size();
}

}  // namespace kube
