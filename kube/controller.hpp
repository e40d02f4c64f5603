#pragma once
// The reconcile loop: N workers take keys from a WorkQueue and call a
// level-based reconcile(key) that reads the world and converges it.
//
// A reconcile answers with a Result, and the loop maps it to the queue the way
// controller-runtime does:
//   ok               -> forget the key's failures
//   requeue_after(d) -> forget the failures, add the key again after d
//   requeue          -> rate-limited re-add (backoff grows)
//   error            -> rate-limited retry; a terminal error is not retried
// An exception escaping reconcile counts as error(what()).

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kube/clock.hpp"
#include "kube/workqueue.hpp"

namespace kube {

class Result {
 public:
  enum class Kind { Ok, RequeueAfter, Requeue, Error };

  static Result ok() { return Result(Kind::Ok); }
  static Result requeue_after(Clock::duration d) {
    Result r(Kind::RequeueAfter);
    r.after_ = d;
    return r;
  }
  static Result requeue() { return Result(Kind::Requeue); }
  static Result error(std::string message) {
    Result r(Kind::Error);
    r.message_ = std::move(message);
    return r;
  }
  // An error retrying cannot fix (invalid spec): logged, not retried; the
  // next change to the object brings the key back.
  static Result terminal_error(std::string message) {
    Result r = error(std::move(message));
    r.terminal_ = true;
    return r;
  }

  Kind kind() const { return kind_; }
  Clock::duration after() const { return after_; }
  const std::string& message() const { return message_; }
  bool terminal() const { return terminal_; }
  bool is_error() const { return kind_ == Kind::Error; }

 private:
  explicit Result(Kind k) : kind_(k) {}
  Kind kind_;
  Clock::duration after_{};
  std::string message_;
  bool terminal_ = false;
};

// Applies a reconcile outcome to the queue (before done(key)). Pure policy.
void apply_result(WorkQueue& queue, const std::string& key, const Result& result);

class Controller {
 public:
  using Reconcile = std::function<Result(const std::string& key)>;

  struct Options {
    int workers = 1;
    // Called after each reconcile, on the worker thread (logging, metrics).
    std::function<void(const std::string& key, const Result& result)> on_result;
  };

  Controller(std::shared_ptr<WorkQueue> queue, Reconcile reconcile, Options options);
  Controller(std::shared_ptr<WorkQueue> queue, Reconcile reconcile)
      : Controller(std::move(queue), std::move(reconcile), Options{}) {}
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the worker threads (once).
  void start();
  // Shuts the queue down and waits for reconciles in flight to return.
  void stop();

  // One turn of a worker: blocks for a key, reconciles it, applies the result.
  // Returns false when the queue shut down. start() runs this in a loop.
  bool process_next();
  // As process_next() with try_get(): false when no key was ready. For tests.
  bool process_ready();

  WorkQueue& queue() { return *queue_; }

 private:
  void process(const std::string& key);

  std::shared_ptr<WorkQueue> queue_;
  Reconcile reconcile_;
  Options options_;
  std::vector<std::jthread> workers_;
};

}  // namespace kube
