// LookupPool: bounded queue, deadlines for queued and running work, stop.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "webhook/lookup_pool.hpp"

using gtoken::webhook::LookupPool;
using gtoken::webhook::LookupPoolOptions;
using namespace std::chrono_literals;

namespace {

// Work that blocks until released.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait_waiting(int n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

template <class F>
bool eventually(F f, std::chrono::milliseconds timeout = 5s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return f();
}

}  // namespace

TEST_CASE("work runs on the pool's threads") {
  LookupPool pool({2, 8, 5000ms});
  std::atomic<int> done{0};
  std::atomic<int> expired{0};
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> elsewhere{true};
  for (int i = 0; i < 8; ++i) {
    CHECK(pool.submit(
        [&] {
          if (std::this_thread::get_id() == caller) elsewhere = false;
          ++done;
        },
        [&] { ++expired; }));
  }
  CHECK(eventually([&] { return done == 8; }));
  CHECK(elsewhere);
  CHECK(expired == 0);
}

TEST_CASE("a full queue refuses, and nothing of the refused job runs") {
  Gate gate;
  LookupPool pool({2, 3, 10'000ms});
  std::atomic<int> done{0};
  for (int i = 0; i < 2; ++i)
    CHECK(pool.submit(
        [&] {
          gate.wait();
          ++done;
        },
        {}));
  REQUIRE(gate.wait_waiting(2, 5s));  // both threads busy
  for (int i = 0; i < 3; ++i) CHECK(pool.submit([&] { ++done; }, {}));
  CHECK(pool.queued() == 3);
  bool refused_ran = false;
  CHECK_FALSE(pool.submit([&] { refused_ran = true; }, [&] { refused_ran = true; }));
  gate.open();
  CHECK(eventually([&] { return done == 5; }));
  CHECK_FALSE(refused_ran);
  CHECK(pool.submit([&] { ++done; }, {}));  // room again
  CHECK(eventually([&] { return done == 6; }));
}

TEST_CASE("deadlines: hanging work gets expired at its deadline, queued work is dropped unrun") {
  Gate gate;
  LookupPool pool({1, 4, 200ms});
  std::atomic<int> expired_running{0};
  std::atomic<int> expired_queued{0};
  std::atomic<bool> queued_ran{false};
  const auto start = std::chrono::steady_clock::now();
  CHECK(pool.submit([&] { gate.wait(); }, [&] { ++expired_running; }));
  REQUIRE(gate.wait_waiting(1, 5s));
  CHECK(pool.submit([&] { queued_ran = true; }, [&] { ++expired_queued; }));
  CHECK(eventually([&] { return expired_running == 1 && expired_queued == 1; }));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 200ms);
  CHECK(took < 3s);
  CHECK(pool.expired_count() == 2);
  CHECK(pool.running() == 0);  // no longer counted, though its thread still waits
  gate.open();
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(queued_ran);
  CHECK(expired_running == 1);  // once only
}

TEST_CASE("work that throws does not kill its thread") {
  LookupPool pool({1, 4, 5000ms});
  std::atomic<int> done{0};
  CHECK(pool.submit([] { throw std::runtime_error("x"); }, {}));
  CHECK(pool.submit([&] { ++done; }, {}));
  CHECK(eventually([&] { return done == 1; }));
}

TEST_CASE("stop drops queued jobs (destroying their captures) and refuses new ones") {
  Gate gate;
  auto pool = std::make_unique<LookupPool>(LookupPoolOptions{1, 4, 10'000ms});
  auto token = std::make_shared<int>(1);
  CHECK(pool->submit([&] { gate.wait(); }, {}));
  REQUIRE(gate.wait_waiting(1, 5s));
  CHECK(pool->submit([token] {}, [token] {}));
  CHECK(token.use_count() == 3);
  std::thread stopper([&] { pool->stop(); });
  std::this_thread::sleep_for(50ms);
  gate.open();  // stop waits for running work
  stopper.join();
  CHECK(token.use_count() == 1);
  CHECK_FALSE(pool->submit([] {}, {}));
}
