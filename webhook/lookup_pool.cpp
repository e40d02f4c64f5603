#include "webhook/lookup_pool.hpp"

#include <algorithm>

namespace gtoken::webhook {

LookupPool::LookupPool(LookupPoolOptions options) : options_(options) {
  const int n = std::max(1, options_.threads);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { worker(); });
  watchdog_ = std::thread([this] { watchdog(); });
}

LookupPool::~LookupPool() {
  stop();
}

bool LookupPool::submit(std::function<void()> work, std::function<void()> expired) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_limit) return false;
    queue_.push_back(
        {next_id_++, Clock::now() + options_.deadline, std::move(work), std::move(expired)});
  }
  work_cv_.notify_one();
  watch_cv_.notify_one();
  return true;
}

void LookupPool::worker() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    if (Clock::now() >= job.deadline) {
      ++expired_;
      lock.unlock();
      if (job.expired) job.expired();
      job = {};  // captures (the connection's responder) go here, not under the lock
      lock.lock();
      continue;
    }
    running_.emplace(job.id, std::make_pair(job.deadline, std::move(job.expired)));
    watch_cv_.notify_one();
    const std::uint64_t id = job.id;
    lock.unlock();
    try {
      job.work();
    } catch (...) {
      // The caller's work answers its own errors; nothing may kill the thread.
    }
    job = {};
    lock.lock();
    running_.erase(id);
  }
}

void LookupPool::watchdog() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) return;
    Clock::time_point next = Clock::time_point::max();
    if (!queue_.empty()) next = queue_.front().deadline;  // FIFO, one deadline offset
    for (const auto& [id, entry] : running_) next = std::min(next, entry.first);
    if (next == Clock::time_point::max()) {
      watch_cv_.wait(lock);
    } else {
      watch_cv_.wait_until(lock, next);
    }
    if (stopping_) return;
    const auto now = Clock::now();
    std::vector<std::function<void()>> fire;
    while (!queue_.empty() && queue_.front().deadline <= now) {
      fire.push_back(std::move(queue_.front().expired));
      queue_.pop_front();  // its work never runs
    }
    for (auto it = running_.begin(); it != running_.end();) {
      if (it->second.first <= now) {
        fire.push_back(std::move(it->second.second));
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
    if (fire.empty()) continue;
    expired_ += fire.size();
    lock.unlock();
    for (auto& f : fire) {
      try {
        if (f) f();
      } catch (...) {
      }
    }
    fire.clear();
    lock.lock();
  }
}

void LookupPool::stop() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    dropped.swap(queue_);
  }
  work_cv_.notify_all();
  watch_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (watchdog_.joinable()) watchdog_.join();
  dropped.clear();
}

std::size_t LookupPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t LookupPool::running() const {
  std::lock_guard lock(mu_);
  return running_.size();
}

std::uint64_t LookupPool::expired_count() const {
  std::lock_guard lock(mu_);
  return expired_;
}

}  // namespace gtoken::webhook
