#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/errors.hpp"
#include "kube/watcher.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using kube::Clock;
using kube::WatcherEvent;
using State = kube::Watcher::State;

namespace {

json cm(const std::string& name, const std::string& rv) {
  return json{{"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", rv}}}};
}

json page(std::vector<json> items, const std::string& rv, const std::string& cont = "") {
  json meta = {{"resourceVersion", rv}};
  if (!cont.empty()) meta["continue"] = cont;
  return json{{"apiVersion", "v1"},
              {"kind", "ConfigMapList"},
              {"metadata", meta},
              {"items", std::move(items)}};
}

kube::WatchEvent ev(const std::string& type, const json& obj) {
  return {type, obj};
}
kube::WatchEvent bookmark(const std::string& rv) {
  return {"BOOKMARK", json{{"kind", "ConfigMap"}, {"metadata", {{"resourceVersion", rv}}}}};
}
kube::WatchEvent error_event(int code, const std::string& reason) {
  return {"ERROR", json{{"kind", "Status"},
                        {"status", "Failure"},
                        {"code", code},
                        {"reason", reason},
                        {"message", "from the test"}}};
}

std::exception_ptr api_error(int code) {
  kube::Status s;
  s.code = code;
  s.status = "Failure";
  s.reason = code == 410 ? "Expired" : "InternalError";
  s.message = "scripted";
  return std::make_exception_ptr(kube::ApiError(s));
}
std::exception_ptr network_error() {
  return std::make_exception_ptr(kube::NetworkError("connection reset by peer"));
}

// Plays back list pages and watch streams in order; records the requests.
class ScriptedSource : public kube::ListWatchSource {
 public:
  struct ListStep {
    json page;
    std::exception_ptr error;
  };
  struct WatchStep {
    std::vector<kube::WatchEvent> events;
    std::exception_ptr error;  // thrown after the events
    Clock::duration elapse{};  // time the stream stays open
  };

  explicit ScriptedSource(std::shared_ptr<kube::FakeClock> clock) : clock_(std::move(clock)) {}

  void page(json p) { lists_.push_back({std::move(p), nullptr}); }
  void list_fails(std::exception_ptr e) { lists_.push_back({nullptr, std::move(e)}); }
  void stream(std::vector<kube::WatchEvent> events, std::exception_ptr error = nullptr,
              Clock::duration elapse = 10s) {
    watches_.push_back({std::move(events), std::move(error), elapse});
  }

  json list_page(const kube::ListOptions& o) override {
    list_calls.push_back(o);
    REQUIRE_MESSAGE(!lists_.empty(), "unexpected list call");
    ListStep s = std::move(lists_.front());
    lists_.pop_front();
    if (s.error) std::rethrow_exception(s.error);
    return s.page;
  }

  void watch(const kube::WatchOptions& o,
             const std::function<bool(const kube::WatchEvent&)>& on_event,
             kube::CancelToken*) override {
    watch_calls.push_back(o);
    REQUIRE_MESSAGE(!watches_.empty(), "unexpected watch call");
    WatchStep s = std::move(watches_.front());
    watches_.pop_front();
    clock_->advance(s.elapse);
    for (const auto& e : s.events) {
      if (!on_event(e)) return;
    }
    if (s.error) std::rethrow_exception(s.error);
  }

  bool exhausted() const { return lists_.empty() && watches_.empty(); }

  std::vector<kube::ListOptions> list_calls;
  std::vector<kube::WatchOptions> watch_calls;

 private:
  std::shared_ptr<kube::FakeClock> clock_;
  std::deque<ListStep> lists_;
  std::deque<WatchStep> watches_;
};

struct Fixture {
  std::shared_ptr<kube::FakeClock> clock = std::make_shared<kube::FakeClock>();
  std::shared_ptr<ScriptedSource> src = std::make_shared<ScriptedSource>(clock);
  std::vector<json> logs;  // the watcher's log lines, parsed
  kube::Logger logger{kube::LogLevel::debug,
                      [this](std::string_view l) { logs.push_back(json::parse(l)); }};
  kube::WatcherOptions options() {
    kube::WatcherOptions o;
    o.log = &logger;
    return o;
  }
  kube::Watcher w{src, options(), clock, kube::fixed_random(0)};
  kube::Store store;
  std::vector<std::string> events;

  // One step; records the events and feeds the store.
  Clock::duration step() {
    return w.step([this](const WatcherEvent& e) {
      std::string s = kube::to_string(e.type);
      if (e.object.is_object()) {
        s += " " + kube::object_key(e.object);
        const auto& m = e.object["metadata"];
        if (m.contains("resourceVersion")) s += "@" + m["resourceVersion"].get<std::string>();
      }
      events.push_back(s);
      kube::apply_to_store(store, e);
    });
  }
  // Steps until the watcher is watching; fails on any backoff.
  void run_until_watching() {
    for (int i = 0; i < 20 && (i == 0 || w.state() != State::Watching); ++i) {
      REQUIRE(step() == Clock::duration::zero());
    }
    REQUIRE(w.state() == State::Watching);
  }
  std::vector<std::string> take_events() { return std::exchange(events, {}); }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "initial list is paged, then the watch starts from the list's version") {
  src->page(page({cm("a", "90"), cm("b", "91")}, "100", "cursor-1"));
  src->page(page({cm("c", "95")}, "100"));

  CHECK(w.state() == State::Empty);
  CHECK(step() == 0s);
  CHECK(take_events() == std::vector<std::string>{"InitStart"});
  CHECK(w.state() == State::Listing);

  CHECK(step() == 0s);
  CHECK(take_events() == std::vector<std::string>{"InitApply ns/a@90", "InitApply ns/b@91"});
  CHECK(w.state() == State::Listing);
  REQUIRE(src->list_calls.size() == 1);
  CHECK(src->list_calls[0].limit == 500);
  CHECK(src->list_calls[0].continue_token == "");
  CHECK(src->list_calls[0].resource_version == "");

  CHECK(step() == 0s);
  CHECK(take_events() == std::vector<std::string>{"InitApply ns/c@95", "InitDone"});
  CHECK(src->list_calls[1].continue_token == "cursor-1");
  CHECK(w.state() == State::Watching);
  CHECK(w.resource_version() == "100");

  src->stream({ev("ADDED", cm("d", "101"))});
  CHECK(step() == 0s);
  REQUIRE(src->watch_calls.size() == 1);
  CHECK(src->watch_calls[0].resource_version == "100");
  CHECK(src->watch_calls[0].allow_bookmarks);
  CHECK(take_events() == std::vector<std::string>{"Apply ns/d@101"});
  CHECK(w.resource_version() == "101");
}

TEST_CASE_FIXTURE(Fixture, "the store is synced only after the last page") {
  src->page(page({cm("a", "1")}, "10", "more"));
  src->page(page({cm("b", "2")}, "10", "more"));
  src->page(page({cm("c", "3")}, "10"));
  step();  // InitStart
  step();
  CHECK_FALSE(store.synced());
  CHECK(store.size() == 0);  // buffered, not visible
  step();
  CHECK_FALSE(store.synced());
  CHECK(store.size() == 0);
  step();
  CHECK(store.synced());
  CHECK(store.keys() == std::vector<std::string>{"ns/a", "ns/b", "ns/c"});
}

TEST_CASE_FIXTURE(Fixture, "list items get apiVersion and kind from the List") {
  src->page(page({cm("a", "1")}, "10"));
  run_until_watching();
  auto a = store.get("ns/a");
  REQUIRE(a);
  CHECK((*a)["apiVersion"] == "v1");
  CHECK((*a)["kind"] == "ConfigMap");
}

TEST_CASE_FIXTURE(Fixture, "watch events apply, modify and delete") {
  src->page(page({cm("a", "1")}, "10"));
  run_until_watching();
  take_events();
  src->stream(
      {ev("ADDED", cm("b", "11")), ev("MODIFIED", cm("a", "12")), ev("DELETED", cm("b", "13"))});
  CHECK(step() == 0s);
  CHECK(take_events() ==
        std::vector<std::string>{"Apply ns/b@11", "Apply ns/a@12", "Delete ns/b@13"});
  CHECK(store.keys() == std::vector<std::string>{"ns/a"});
  CHECK((*store.get("ns/a"))["metadata"]["resourceVersion"] == "12");
  CHECK(w.resource_version() == "13");
}

TEST_CASE_FIXTURE(Fixture, "server watch timeout: resume at once from the last version") {
  src->page(page({}, "10"));
  run_until_watching();
  src->stream({ev("ADDED", cm("a", "11"))});  // then the server closes cleanly
  src->stream({}, nullptr, 5min);             // an idle watch that runs to its timeout
  src->stream({});
  CHECK(step() == 0s);
  CHECK(step() == 0s);
  CHECK(step() == 0s);
  REQUIRE(src->watch_calls.size() == 3);
  CHECK(src->watch_calls[1].resource_version == "11");
  CHECK(src->watch_calls[2].resource_version == "11");
  CHECK(w.state() == State::Watching);
  CHECK(src->list_calls.size() == 1);  // no relist
}

TEST_CASE_FIXTURE(Fixture, "disconnect: resume from the last seen version, bookmarks included") {
  src->page(page({}, "10"));
  run_until_watching();
  src->stream({ev("ADDED", cm("a", "11")), bookmark("250")}, network_error());
  src->stream({ev("MODIFIED", cm("a", "251"))});
  const auto delay = step();
  CHECK(delay > 0s);  // a network failure backs off before reconnecting
  CHECK(w.state() == State::Watching);
  CHECK(w.resource_version() == "250");
  CHECK(step() == 0s);
  CHECK(src->watch_calls[1].resource_version == "250");
  CHECK(src->list_calls.size() == 1);
  CHECK(store.size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "a bookmark alone moves the resume point without an event") {
  src->page(page({}, "10"));
  run_until_watching();
  take_events();
  src->stream({bookmark("77")});
  src->stream({});
  step();
  CHECK(take_events().empty());
  step();
  CHECK(src->watch_calls[1].resource_version == "77");
}

TEST_CASE_FIXTURE(Fixture, "410 as HTTP status on watch: relist from Empty") {
  src->page(page({cm("a", "1")}, "10"));
  run_until_watching();
  take_events();
  src->stream({}, api_error(410));
  CHECK(step() == 0s);
  CHECK(w.state() == State::Empty);
  src->page(page({cm("a", "1"), cm("b", "20")}, "30"));
  run_until_watching();
  CHECK(take_events() ==
        std::vector<std::string>{"InitStart", "InitApply ns/a@1", "InitApply ns/b@20", "InitDone"});
  CHECK(src->list_calls.back().continue_token == "");
  CHECK(w.resource_version() == "30");
}

TEST_CASE_FIXTURE(Fixture, "410 as an ERROR event: relist; earlier events of the stream count") {
  src->page(page({}, "10"));
  run_until_watching();
  take_events();
  src->stream(
      {ev("ADDED", cm("a", "11")), error_event(410, "Expired"), ev("ADDED", cm("never", "12"))});
  CHECK(step() == 0s);
  CHECK(w.state() == State::Empty);
  CHECK(take_events() == std::vector<std::string>{"Apply ns/a@11"});
  src->page(page({cm("a", "11")}, "40"));
  run_until_watching();
  CHECK(store.keys() == std::vector<std::string>{"ns/a"});
  CHECK(w.resource_version() == "40");
}

TEST_CASE_FIXTURE(Fixture, "an ERROR event with reason Expired but no code is also gone") {
  src->page(page({}, "10"));
  run_until_watching();
  src->stream({{"ERROR", json{{"kind", "Status"}, {"reason", "Expired"}}}});
  CHECK(step() == 0s);
  CHECK(w.state() == State::Empty);
}

TEST_CASE_FIXTURE(Fixture, "a relist removes objects deleted while we were not watching") {
  src->page(page({cm("a", "1"), cm("b", "2"), cm("c", "3")}, "10"));
  std::vector<std::string> deleted;
  store.subscribe([&](const kube::StoreChange& c) {
    if (c.type == kube::StoreChange::Type::Deleted) {
      deleted.push_back(c.key + (c.final_state_unknown ? " (unknown final state)" : ""));
    }
  });
  run_until_watching();
  src->stream({}, api_error(410));
  step();
  src->page(page({cm("a", "1"), cm("c", "5")}, "50"));
  run_until_watching();
  CHECK(store.keys() == std::vector<std::string>{"ns/a", "ns/c"});
  CHECK(deleted == std::vector<std::string>{"ns/b (unknown final state)"});
  CHECK((*store.get("ns/c"))["metadata"]["resourceVersion"] == "5");
  CHECK(store.synced());
}

TEST_CASE_FIXTURE(Fixture, "410 while paging (expired continue token) restarts the list") {
  src->page(page({cm("a", "1")}, "10", "cursor"));
  src->list_fails(api_error(410));
  src->page(page({cm("z", "1")}, "60"));
  step();
  step();
  CHECK(step() == 0s);
  CHECK(w.state() == State::Empty);
  run_until_watching();
  CHECK(src->list_calls[2].continue_token == "");
  // The half-read first attempt is discarded, not merged.
  CHECK(store.keys() == std::vector<std::string>{"ns/z"});
}

TEST_CASE_FIXTURE(Fixture, "other list errors back off with jitter and retry the same page") {
  src->page(page({cm("a", "1")}, "10", "cursor"));
  src->list_fails(api_error(500));
  src->list_fails(network_error());
  src->list_fails(api_error(403));
  src->page(page({cm("b", "1")}, "10"));
  step();
  step();
  // Equal jitter with u = 0: 800ms, 1.6s, 3.2s (jitter only ever shortens).
  CHECK(step() == 800ms);
  CHECK(step() == 1600ms);
  CHECK(step() == 3200ms);
  CHECK(w.failures() == 3);
  CHECK(w.state() == State::Listing);
  CHECK(step() == 0s);
  CHECK(w.failures() == 0);
  for (size_t i = 1; i < src->list_calls.size(); ++i) {
    CHECK(src->list_calls[i].continue_token == "cursor");
  }
  CHECK(store.keys() == std::vector<std::string>{"ns/a", "ns/b"});
  REQUIRE(logs.size() == 3);
  for (const auto& l : logs) {
    CHECK(l["level"] == "debug");
    CHECK(l["msg"].get<std::string>().rfind("list: ", 0) == 0);
    CHECK(l["msg"].get<std::string>().find("; retrying in ") != std::string::npos);
  }
}

TEST_CASE_FIXTURE(Fixture, "non-410 watch errors back off and resume from the same version") {
  src->page(page({}, "10"));
  run_until_watching();
  src->stream({}, api_error(500));
  src->stream({error_event(500, "InternalError")});
  src->stream({}, api_error(429));
  src->stream({ev("ADDED", cm("a", "11"))});
  CHECK(step() == 800ms);
  CHECK(step() == 1600ms);
  CHECK(step() == 3200ms);
  CHECK(w.state() == State::Watching);
  CHECK(step() == 0s);
  CHECK(w.failures() == 0);
  for (const auto& call : src->watch_calls) CHECK(call.resource_version == "10");
  CHECK(src->list_calls.size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "a watch closed at once without events backs off") {
  src->page(page({}, "10"));
  run_until_watching();
  src->stream({}, nullptr, 0s);
  src->stream({}, nullptr, 0s);
  CHECK(step() == 800ms);
  CHECK(step() == 1600ms);
}

TEST_CASE_FIXTURE(Fixture, "backoff is capped") {
  src->page(page({}, "10"));
  run_until_watching();
  for (int i = 0; i < 12; ++i) src->stream({}, network_error());
  Clock::duration last{};
  for (int i = 0; i < 12; ++i) last = step();
  CHECK(last == 30s);  // Equal jitter, u = 0: the whole 30 s cap
}

TEST_CASE_FIXTURE(Fixture, "the watch timeout is jittered above the base") {
  src->page(page({}, "10"));
  run_until_watching();
  src->stream({ev("ADDED", cm("a", "11"))});
  step();
  CHECK(src->watch_calls[0].timeout_seconds == 300);

  auto clock2 = std::make_shared<kube::FakeClock>();
  auto src2 = std::make_shared<ScriptedSource>(clock2);
  kube::Watcher w2(src2, {}, clock2, kube::fixed_random(0.999));
  src2->page(page({}, "1"));
  src2->stream({ev("ADDED", cm("a", "2"))});
  auto noop = [](const WatcherEvent&) {};
  w2.step(noop);
  w2.step(noop);
  w2.step(noop);
  CHECK(src2->watch_calls[0].timeout_seconds == 360);
}

TEST_CASE_FIXTURE(Fixture, "unknown event types are ignored") {
  src->page(page({}, "10"));
  run_until_watching();
  take_events();
  src->stream({{"SURPRISE", cm("x", "11")}, ev("ADDED", cm("a", "12"))});
  CHECK(step() == 0s);
  CHECK(take_events() == std::vector<std::string>{"Apply ns/a@12"});
}

TEST_CASE_FIXTURE(Fixture, "an exception from the consumer propagates, not mistaken for IO") {
  src->page(page({}, "10"));
  run_until_watching();
  src->stream({ev("ADDED", cm("a", "11")), ev("ADDED", cm("b", "12"))});
  int seen = 0;
  auto throwing = [&](const WatcherEvent&) {
    if (++seen == 2) throw std::logic_error("consumer bug");
  };
  CHECK_THROWS_AS(w.step(throwing), std::logic_error);
  CHECK(w.state() == State::Watching);
  CHECK(w.resource_version() == "11");  // the failed event is not counted
  CHECK(w.failures() == 0);
}

TEST_CASE_FIXTURE(Fixture, "a cancelled watch returns without backoff") {
  src->page(page({}, "10"));
  run_until_watching();
  src->stream({}, nullptr, 0s);
  kube::CancelToken token;
  token.cancel();
  CHECK(w.step([](const WatcherEvent&) {}, &token) == 0s);
  CHECK(w.failures() == 0);
}

// --- Informer ------------------------------------------------------------------

namespace {

// Lists once, streams the given events, then blocks like an idle watch until
// cancelled through the CancelToken, the way the HTTP client does.
class BlockingSource : public kube::ListWatchSource {
 public:
  json list_page(const kube::ListOptions&) override {
    std::lock_guard lock(mu_);
    ++lists;
    if (fail_lists > 0) {
      --fail_lists;
      throw kube::NetworkError("connection refused");
    }
    return page({cm("a", "1"), cm("b", "2")}, "10");
  }
  void watch(const kube::WatchOptions&,
             const std::function<bool(const kube::WatchEvent&)>& on_event,
             kube::CancelToken* cancel) override {
    if (!sent_) {
      sent_ = true;
      if (!on_event(ev("MODIFIED", cm("a", "11")))) return;
      if (!on_event(ev("DELETED", cm("b", "12")))) return;
    }
    REQUIRE(cancel != nullptr);
    // Runs the canceller at once if already cancelled, so not under mu_.
    cancel->set_canceller([this] {
      std::lock_guard l(mu_);
      cancelled_ = true;
      cv_.notify_all();
    });
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return cancelled_; });
    lock.unlock();
    cancel->clear_canceller();
  }

  int lists = 0;
  int fail_lists = 0;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  bool sent_ = false;
};

}  // namespace

TEST_CASE("Informer fills its store, calls handlers, and stops promptly") {
  auto src = std::make_shared<BlockingSource>();
  src->fail_lists = 2;  // exercises the backoff path with an instant sleep
  kube::InformerOptions opts;
  opts.clock = std::make_shared<kube::FakeClock>();
  opts.random = kube::fixed_random(0);
  std::mutex sleeps_mu;
  std::vector<Clock::duration> sleeps;
  opts.sleep = [&](Clock::duration d, std::stop_token st) {
    std::lock_guard lock(sleeps_mu);
    sleeps.push_back(d);
    return !st.stop_requested();
  };
  opts.transform = kube::keep_metadata_only;
  kube::Informer inf(src, opts);

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;
  auto record = [&](std::string s) {
    std::lock_guard lock(mu);
    seen.push_back(std::move(s));
    cv.notify_all();
  };
  inf.on_add([&](const json& o) { record("add " + kube::object_key(o)); });
  inf.on_update([&](const json& old, const json& cur) {
    record("update " + kube::object_key(cur) + " " +
           old["metadata"]["resourceVersion"].get<std::string>() + "->" +
           cur["metadata"]["resourceVersion"].get<std::string>());
  });
  inf.on_delete([&](const json& o) { record("delete " + kube::object_key(o)); });
  inf.on_change([&](const std::string& key) { record("change " + key); });
  inf.on_add([](const json&) { throw std::runtime_error("a bad handler is contained"); });

  inf.start();
  CHECK(inf.running());
  CHECK(inf.wait_synced(30s));
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 30s, [&] { return seen.size() >= 8; }));
  }
  const auto before_stop = std::chrono::steady_clock::now();
  inf.stop();
  CHECK(std::chrono::steady_clock::now() - before_stop < 10s);
  CHECK_FALSE(inf.running());

  CHECK(seen == std::vector<std::string>{"add ns/a", "change ns/a", "add ns/b", "change ns/b",
                                         "update ns/a 1->11", "change ns/a", "delete ns/b",
                                         "change ns/b"});
  CHECK(inf.store().keys() == std::vector<std::string>{"ns/a"});
  CHECK(src->lists == 3);
  CHECK(sleeps == std::vector<Clock::duration>{800ms, 1600ms});
}

TEST_CASE("Informer stop before start and double stop are harmless") {
  auto src = std::make_shared<BlockingSource>();
  kube::Informer inf(src);
  inf.stop();
  inf.start();
  CHECK(inf.wait_synced(30s));
  inf.stop();
  inf.stop();
}
