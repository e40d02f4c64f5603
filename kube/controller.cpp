#include "kube/controller.hpp"

#include <exception>
#include <stdexcept>

namespace kube {

void apply_result(WorkQueue& queue, const std::string& key, const Result& result) {
  switch (result.kind()) {
    case Result::Kind::Ok:
      queue.forget(key);
      break;
    case Result::Kind::RequeueAfter:
      // A planned revisit, not a failure: the backoff starts over.
      queue.forget(key);
      queue.add_after(key, result.after());
      break;
    case Result::Kind::Requeue:
      queue.add_rate_limited(key);
      break;
    case Result::Kind::Error:
      if (result.terminal()) {
        queue.forget(key);
      } else {
        queue.add_rate_limited(key);
      }
      break;
  }
}

Controller::Controller(std::shared_ptr<WorkQueue> queue, Reconcile reconcile, Options options)
    : queue_(std::move(queue)), reconcile_(std::move(reconcile)), options_(std::move(options)) {
  if (!queue_) {
    throw std::invalid_argument("Controller: no queue");
  }
  if (!reconcile_) {
    throw std::invalid_argument("Controller: no reconcile function");
  }
  if (options_.workers < 1) {
    throw std::invalid_argument("Controller: workers must be >= 1");
  }
}

Controller::~Controller() {
  stop();
}

void Controller::start() {
  if (!workers_.empty()) {
    return;
  }
  workers_.reserve(static_cast<size_t>(options_.workers));
  for (int i = 0; i < options_.workers; ++i) {
    // Shutting the queue down is what ends a worker; the stop token is unused.
    workers_.emplace_back([this] {
      while (process_next()) {
      }
    });
  }
}

void Controller::stop() {
  queue_->shut_down();
  workers_.clear();  // joins
}

bool Controller::process_next() {
  auto key = queue_->get();
  if (!key) {
    return false;
  }
  process(*key);
  return true;
}

bool Controller::process_ready() {
  auto key = queue_->try_get();
  if (!key) {
    return false;
  }
  process(*key);
  return true;
}

void Controller::process(const std::string& key) {
  Result result = Result::ok();
  try {
    result = reconcile_(key);
  } catch (const std::exception& e) {
    result = Result::error(e.what());
  } catch (...) {
    result = Result::error("unknown exception");
  }
  apply_result(*queue_, key, result);
  queue_->done(key);
  if (options_.on_result) {
    options_.on_result(key, result);
  }
}

}  // namespace kube
