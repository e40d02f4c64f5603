#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "kube/controller.hpp"
#include "kube/workqueue.hpp"

using namespace std::chrono_literals;
using kube::Clock;
using kube::Result;
using kube::WorkQueue;

namespace {

struct Fixture {
  std::shared_ptr<kube::FakeClock> clock = std::make_shared<kube::FakeClock>();
  std::shared_ptr<kube::BackoffRateLimiter> limiter = std::make_shared<kube::BackoffRateLimiter>(
      kube::BackoffPolicy{10ms, 1s, 2.0, kube::Jitter::None}, kube::fixed_random(0));
  std::shared_ptr<WorkQueue> q = std::make_shared<WorkQueue>(clock, limiter);

  std::vector<std::string> drain() {
    std::vector<std::string> out;
    while (auto k = q->try_get()) out.push_back(*k);
    return out;
  }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "keys come out in order, each once") {
  q->add("a");
  q->add("b");
  q->add("a");
  q->add("c");
  q->add("b");
  CHECK(q->len() == 3);
  CHECK(drain() == std::vector<std::string>{"a", "b", "c"});
  CHECK(q->len() == 0);
  CHECK(q->processing_len() == 3);
}

TEST_CASE_FIXTURE(Fixture, "a key re-added while processing waits for done()") {
  q->add("a");
  auto k = q->try_get();
  REQUIRE(k == "a");
  q->add("a");
  q->add("a");
  CHECK(q->len() == 0);  // not handed to a second worker
  CHECK_FALSE(q->try_get().has_value());
  q->done("a");
  CHECK(q->len() == 1);  // once, though added twice
  CHECK(q->try_get() == "a");
  q->done("a");
  CHECK(q->len() == 0);
  CHECK(q->processing_len() == 0);
}

TEST_CASE_FIXTURE(Fixture, "done() without re-add does not requeue; stray done() is harmless") {
  q->add("a");
  REQUIRE(q->try_get() == "a");
  q->done("a");
  q->done("a");
  q->done("never-seen");
  CHECK(q->len() == 0);
}

TEST_CASE_FIXTURE(Fixture, "add_after becomes ready when the clock passes the delay") {
  q->add_after("a", 5s);
  CHECK(q->len() == 0);
  CHECK(q->delayed_len() == 1);
  CHECK(q->next_ready_time() == clock->now() + 5s);
  clock->advance(4999ms);
  CHECK(q->process_delayed() == 0);
  CHECK_FALSE(q->try_get().has_value());
  clock->advance(1ms);
  CHECK(q->process_delayed() == 1);
  CHECK(q->delayed_len() == 0);
  CHECK(q->try_get() == "a");
}

TEST_CASE_FIXTURE(Fixture, "add_after with no delay adds at once") {
  q->add_after("a", 0s);
  q->add_after("b", -1s);
  CHECK(drain() == std::vector<std::string>{"a", "b"});
}

TEST_CASE_FIXTURE(Fixture, "delayed keys come out by due time, then insertion order") {
  q->add_after("late", 3s);
  q->add_after("early", 1s);
  q->add_after("tie1", 2s);
  q->add_after("tie2", 2s);
  clock->advance(10s);
  CHECK(drain() == std::vector<std::string>{"early", "tie1", "tie2", "late"});
}

TEST_CASE_FIXTURE(Fixture, "a waiting key keeps its earliest time") {
  q->add_after("a", 10s);
  q->add_after("a", 2s);   // earlier: replaces
  q->add_after("a", 30s);  // later: ignored
  CHECK(q->delayed_len() == 1);
  CHECK(q->next_ready_time() == clock->now() + 2s);
  clock->advance(2s);
  CHECK(q->try_get() == "a");
  q->done("a");
  clock->advance(60s);
  CHECK(q->process_delayed() == 0);  // the stale 10s and 30s entries are gone
  CHECK(q->len() == 0);
}

TEST_CASE_FIXTURE(Fixture, "a delayed key that is already queued is not queued twice") {
  q->add_after("a", 1s);
  q->add("a");
  clock->advance(1s);
  CHECK(drain() == std::vector<std::string>{"a"});
}

TEST_CASE_FIXTURE(Fixture, "a delayed key due while processing is queued after done()") {
  q->add("a");
  REQUIRE(q->try_get() == "a");
  q->add_after("a", 1s);
  clock->advance(1s);
  CHECK(q->process_delayed() == 1);
  CHECK_FALSE(q->try_get().has_value());
  q->done("a");
  CHECK(q->try_get() == "a");
}

TEST_CASE_FIXTURE(Fixture, "add_rate_limited backs off per key; forget resets") {
  q->add_rate_limited("a");
  q->add_rate_limited("a");  // 10ms then 20ms: the earlier stands
  CHECK(q->num_requeues("a") == 2);
  CHECK(q->next_ready_time() == clock->now() + 10ms);
  clock->advance(10ms);
  REQUIRE(q->try_get() == "a");
  q->add_rate_limited("a");  // third failure: 40ms
  q->done("a");
  clock->advance(39ms);
  CHECK(q->len() == 0);
  clock->advance(1ms);
  CHECK(q->len() == 1);
  q->forget("a");
  CHECK(q->num_requeues("a") == 0);
}

TEST_CASE_FIXTURE(Fixture, "shut_down: get returns nothing, adds are ignored") {
  q->add("a");
  q->shut_down();
  CHECK(q->shutting_down());
  CHECK_FALSE(q->try_get().has_value());
  CHECK_FALSE(q->get().has_value());
  CHECK_FALSE(q->get_for(1h).has_value());
  q->add("b");
  q->add_after("c", 1s);
  CHECK(q->delayed_len() == 0);
}

TEST_CASE_FIXTURE(Fixture, "shut_down wakes blocked getters") {
  std::atomic<int> returned{0};
  {
    std::vector<std::jthread> getters;
    for (int i = 0; i < 3; ++i) {
      getters.emplace_back([&] {
        if (!q->get().has_value()) ++returned;
      });
    }
    q->add_after("far", 1h);  // a getter with a delayed key waits differently
    std::this_thread::sleep_for(20ms);
    q->shut_down();
  }  // joins
  CHECK(returned == 3);
}

TEST_CASE_FIXTURE(Fixture, "a blocked get() receives a key added later") {
  std::optional<std::string> got;
  std::jthread t([&] { got = q->get(); });
  std::this_thread::sleep_for(10ms);
  q->add("x");
  t.join();
  CHECK(got == "x");
}

TEST_CASE_FIXTURE(Fixture, "a blocked get() receives a delayed key once the clock is advanced") {
  q->add_after("x", 10min);
  std::optional<std::string> got;
  std::jthread t([&] { got = q->get(); });
  std::this_thread::sleep_for(10ms);
  clock->advance(10min);
  q->process_delayed();
  t.join();
  CHECK(got == "x");
}

TEST_CASE_FIXTURE(Fixture, "get_for times out in real time") {
  CHECK_FALSE(q->get_for(5ms).has_value());
  q->add("a");
  CHECK(q->get_for(5ms) == "a");
}

TEST_CASE("apply_result maps the four outcomes like controller-runtime") {
  Fixture f;
  auto& q = *f.q;
  auto fail_twice = [&] {
    q.add_rate_limited("k");
    q.add_rate_limited("k");
  };

  SUBCASE("ok forgets failures and does not requeue") {
    fail_twice();
    f.clock->advance(1h);
    REQUIRE(q.try_get() == "k");
    kube::apply_result(q, "k", Result::ok());
    q.done("k");
    CHECK(q.num_requeues("k") == 0);
    f.clock->advance(1h);
    CHECK(q.len() == 0);
  }
  SUBCASE("requeue_after forgets failures and adds after exactly the delay") {
    fail_twice();
    f.clock->advance(1h);
    REQUIRE(q.try_get() == "k");
    kube::apply_result(q, "k", Result::requeue_after(30s));
    q.done("k");
    CHECK(q.num_requeues("k") == 0);
    CHECK(q.next_ready_time() == f.clock->now() + 30s);
  }
  SUBCASE("requeue is rate limited") {
    q.add("k");
    REQUIRE(q.try_get() == "k");
    kube::apply_result(q, "k", Result::requeue());
    q.done("k");
    CHECK(q.num_requeues("k") == 1);
    CHECK(q.next_ready_time() == f.clock->now() + 10ms);
  }
  SUBCASE("error retries with growing backoff") {
    q.add("k");
    for (auto expected : {10ms, 20ms, 40ms, 80ms}) {
      auto k = q.try_get();
      REQUIRE(k == "k");
      kube::apply_result(q, "k", Result::error("boom"));
      q.done("k");
      CHECK(q.next_ready_time() == f.clock->now() + expected);
      f.clock->advance(expected);
    }
    CHECK(q.num_requeues("k") == 4);
  }
  SUBCASE("a terminal error is not retried") {
    fail_twice();
    f.clock->advance(1h);
    REQUIRE(q.try_get() == "k");
    kube::apply_result(q, "k", Result::terminal_error("invalid spec"));
    q.done("k");
    CHECK(q.num_requeues("k") == 0);
    CHECK_FALSE(q.next_ready_time().has_value());
  }
}

TEST_CASE_FIXTURE(Fixture, "Controller::process_ready reconciles and applies the result") {
  std::vector<std::string> seen;
  std::map<std::string, Result> answers{
      {"a", Result::ok()}, {"b", Result::requeue_after(5s)}, {"c", Result::error("nope")}};
  std::vector<std::pair<std::string, Result::Kind>> results;
  kube::Controller::Options opts;
  opts.on_result = [&](const std::string& k, const Result& r) {
    results.emplace_back(k, r.kind());
  };
  kube::Controller c(
      q,
      [&](const std::string& key) {
        seen.push_back(key);
        return answers.at(key);
      },
      opts);
  q->add("a");
  q->add("b");
  q->add("c");
  while (c.process_ready()) {
  }
  CHECK(seen == std::vector<std::string>{"a", "b", "c"});
  CHECK(results.size() == 3);
  CHECK(results[2].second == Result::Kind::Error);
  CHECK(q->processing_len() == 0);
  CHECK(q->num_requeues("c") == 1);
  answers.at("c") = Result::ok();
  clock->advance(10ms);
  CHECK(c.process_ready());  // c after its backoff
  CHECK(seen.back() == "c");
  clock->advance(5s);
  CHECK(c.process_ready());  // b after its requeue_after
  CHECK(seen.back() == "b");
}

TEST_CASE_FIXTURE(Fixture, "an exception from reconcile is an error: retried with backoff") {
  int calls = 0;
  std::string message;
  kube::Controller::Options opts;
  opts.on_result = [&](const std::string&, const Result& r) { message = r.message(); };
  kube::Controller c(
      q,
      [&](const std::string&) -> Result {
        ++calls;
        throw std::runtime_error("apiserver on fire");
      },
      opts);
  q->add("a");
  CHECK(c.process_ready());
  CHECK(calls == 1);
  CHECK(message == "apiserver on fire");
  CHECK(q->num_requeues("a") == 1);
  CHECK(q->processing_len() == 0);
}

TEST_CASE("Controller workers never run one key twice at once, and every add is seen") {
  auto clock = std::make_shared<kube::FakeClock>();
  auto q = std::make_shared<WorkQueue>(clock, std::make_shared<kube::BackoffRateLimiter>(
                                                  kube::BackoffPolicy{}, kube::fixed_random(0)));
  std::mutex mu;
  std::set<std::string> in_flight;
  std::atomic<bool> overlap{false};
  std::atomic<int> reconciles{0};
  std::map<std::string, int> last_version_seen;  // guarded by mu
  std::map<std::string, std::atomic<int>> version;
  const std::vector<std::string> keys{"ns/a", "ns/b", "ns/c", "ns/d"};
  for (const auto& k : keys) version[k] = 0;

  kube::Controller c(
      q,
      [&](const std::string& key) {
        {
          std::lock_guard lock(mu);
          if (!in_flight.insert(key).second) overlap = true;
        }
        // Level-based: read the "world" (the version) at some point.
        int v = version.at(key).load();
        std::this_thread::yield();
        {
          std::lock_guard lock(mu);
          in_flight.erase(key);
          last_version_seen[key] = std::max(last_version_seen[key], v);
        }
        ++reconciles;
        return Result::ok();
      },
      kube::Controller::Options{4, {}});
  c.start();
  for (int round = 1; round <= 200; ++round) {
    for (const auto& k : keys) {
      version.at(k) = round;
      q->add(k);
    }
  }
  // Every key's last change must be reconciled: wait until each saw 200.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    {
      std::lock_guard lock(mu);
      bool all = true;
      for (const auto& k : keys) all = all && last_version_seen[k] == 200;
      if (all) break;
    }
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(1ms);
  }
  c.stop();
  CHECK_FALSE(overlap.load());
  CHECK(reconciles.load() >= 4);
  CHECK(reconciles.load() <= 800);
}

TEST_CASE("Controller::stop returns promptly with idle workers and is idempotent") {
  auto q = std::make_shared<WorkQueue>(std::make_shared<kube::FakeClock>());
  kube::Controller c(
      q, [](const std::string&) { return Result::ok(); }, kube::Controller::Options{3, {}});
  c.start();
  c.start();
  c.stop();
  c.stop();
  CHECK(q->shutting_down());
}

TEST_CASE("Controller rejects a bad configuration") {
  auto q = std::make_shared<WorkQueue>(std::make_shared<kube::FakeClock>());
  CHECK_THROWS_AS(kube::Controller(q, nullptr), std::invalid_argument);
  CHECK_THROWS_AS(
      kube::Controller(
          q, [](const std::string&) { return Result::ok(); }, kube::Controller::Options{0, {}}),
      std::invalid_argument);
}
