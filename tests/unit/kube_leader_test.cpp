#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "kube/errors.hpp"
#include "kube/leader.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using kube::Clock;
using kube::LeaseAction;

namespace {

Clock::time_point at(const std::string& rfc3339) {
  auto t = kube::parse_rfc3339(rfc3339);
  REQUIRE(t.has_value());
  return *t;
}

json lease(const std::string& holder, const std::string& renew, int duration = 15,
           int transitions = 0) {
  return json{{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata", {{"name", "gtoken"}, {"namespace", "sys"}, {"resourceVersion", "7"}}},
              {"spec",
               {{"holderIdentity", holder},
                {"leaseDurationSeconds", duration},
                {"acquireTime", renew},
                {"renewTime", renew},
                {"leaseTransitions", transitions}}}};
}

kube::ApiError api_error(int code) {
  kube::Status s;
  s.code = code;
  s.reason = code == 409 ? "Conflict" : "NotFound";
  return kube::ApiError(s);
}

// An in-memory apiserver for one Lease: optimistic concurrency by
// resourceVersion, and switches to fail or interleave calls.
class FakeLeaseApi : public kube::LeaseApi {
 public:
  std::optional<json> get() override {
    ++gets;
    if (fail_gets > 0) {
      --fail_gets;
      throw kube::NetworkError("i/o timeout");
    }
    return stored;
  }
  json create(const json& l) override {
    ++creates;
    if (before_create) std::exchange(before_create, nullptr)();  // one-shot
    if (stored) throw api_error(409);
    stored = l;
    (*stored)["metadata"]["resourceVersion"] = std::to_string(++version);
    return *stored;
  }
  json update(const json& l) override {
    ++updates;
    if (before_update) std::exchange(before_update, nullptr)();  // one-shot
    if (fail_updates > 0) {
      --fail_updates;
      throw kube::NetworkError("connection reset");
    }
    if (!stored) throw api_error(404);
    if (conflict_updates > 0) {
      --conflict_updates;
      throw api_error(409);
    }
    if (l["metadata"]["resourceVersion"] != (*stored)["metadata"]["resourceVersion"]) {
      throw api_error(409);
    }
    stored = l;
    (*stored)["metadata"]["resourceVersion"] = std::to_string(++version);
    return *stored;
  }

  std::string holder() const {
    return stored ? (*stored)["spec"]["holderIdentity"].get<std::string>() : "";
  }
  const json& spec() const { return (*stored)["spec"]; }

  std::optional<json> stored;
  int version = 0;
  int gets = 0, creates = 0, updates = 0;
  int fail_gets = 0, fail_updates = 0, conflict_updates = 0;
  std::function<void()> before_update;
  std::function<void()> before_create;
};

struct Candidate {
  std::unique_ptr<kube::LeaderElector> elector;
  int started = 0;
  int stopped = 0;
  std::vector<std::string> leaders_seen;
  std::vector<std::string> logs;  // the messages of the elector's log lines
  kube::Logger logger{kube::LogLevel::debug, [this](std::string_view l) {
                        logs.push_back(nlohmann::json::parse(l)["msg"].get<std::string>());
                      }};

  Candidate(std::shared_ptr<FakeLeaseApi> api, std::shared_ptr<kube::FakeClock> clock,
            const std::string& id, std::function<void(kube::LeaderElectionConfig&)> tweak = {}) {
    kube::LeaderElectionConfig c;
    c.identity = id;
    c.lease_name = "gtoken";
    c.lease_namespace = "sys";
    c.on_started_leading = [this] { ++started; };
    c.on_stopped_leading = [this] { ++stopped; };
    c.on_new_leader = [this](const std::string& who) { leaders_seen.push_back(who); };
    c.log = &logger;
    if (tweak) tweak(c);
    elector = std::make_unique<kube::LeaderElector>(std::move(api), c, std::move(clock),
                                                    kube::fixed_random(0));
  }
  kube::LeaderElector* operator->() { return elector.get(); }
};

struct Fixture {
  std::shared_ptr<kube::FakeClock> clock =
      std::make_shared<kube::FakeClock>(at("2024-05-01T12:00:00Z"));
  std::shared_ptr<FakeLeaseApi> api = std::make_shared<FakeLeaseApi>();
  Candidate a{api, clock, "pod-a"};
  Candidate b{api, clock, "pod-b"};
};

}  // namespace

// --- MicroTime -------------------------------------------------------------------

TEST_CASE("format_micro_time writes UTC with six fraction digits") {
  CHECK(kube::format_micro_time(at("2006-01-02T15:04:05Z")) == "2006-01-02T15:04:05.000000Z");
  CHECK(kube::format_micro_time(at("2024-02-29T23:59:59.1234567Z")) ==
        "2024-02-29T23:59:59.123456Z");
  CHECK(kube::format_micro_time(Clock::time_point{}) == "1970-01-01T00:00:00.000000Z");
  const auto t = at("2031-12-31T08:09:10.000042Z");
  CHECK(kube::parse_rfc3339(kube::format_micro_time(t)) == t);
}

TEST_CASE("parse_rfc3339 accepts offsets and any fraction, rejects junk") {
  CHECK(at("2024-05-01T14:00:00+02:00") == at("2024-05-01T12:00:00Z"));
  CHECK(at("2024-05-01T09:30:00-02:30") == at("2024-05-01T12:00:00Z"));
  CHECK(at("2024-05-01t12:00:00.5z") == at("2024-05-01T12:00:00.500000Z"));
  CHECK(at("2024-05-01T12:00:00.123456789123Z") - at("2024-05-01T12:00:00Z") == 123456789ns);
  for (const char* bad :
       {"", "2024-05-01", "2024-05-01T12:00:00", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z",
        "2024-05-01T24:00:00Z", "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00Zjunk",
        "2024-05-01T12:00:00+0200", "2024-5-01T12:00:00Z", "2024-05-01T12:00:60Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(kube::parse_rfc3339(bad).has_value());
  }
}

// --- decide_lease ------------------------------------------------------------------

TEST_CASE("decide_lease") {
  const auto now = at("2024-05-01T12:00:10Z");
  const auto d = std::chrono::seconds(15);

  CHECK(kube::decide_lease(std::nullopt, now, "me", d).action == LeaseAction::Create);
  CHECK(kube::decide_lease(lease("", "2024-05-01T12:00:09Z"), now, "me", d).action ==
        LeaseAction::Acquire);
  CHECK(kube::decide_lease(lease("me", "2020-01-01T00:00:00Z"), now, "me", d).action ==
        LeaseAction::Renew);

  auto wait = kube::decide_lease(lease("other", "2024-05-01T12:00:00Z"), now, "me", d);
  CHECK(wait.action == LeaseAction::Wait);
  CHECK(wait.holder == "other");
  CHECK(wait.expires_at == at("2024-05-01T12:00:15Z"));

  SUBCASE("expired exactly at renewTime + leaseDurationSeconds") {
    auto l = lease("other", "2024-05-01T11:59:55Z");
    CHECK(kube::decide_lease(l, now - 1us, "me", d).action == LeaseAction::Wait);
    CHECK(kube::decide_lease(l, now, "me", d).action == LeaseAction::Acquire);
  }
  SUBCASE("the lease's own duration wins over ours") {
    auto l = lease("other", "2024-05-01T12:00:00Z", 60);
    CHECK(kube::decide_lease(l, now + 49s, "me", d).action == LeaseAction::Wait);
    CHECK(kube::decide_lease(l, now + 50s, "me", d).action == LeaseAction::Acquire);
  }
  SUBCASE("a holder without times is expired") {
    json l = lease("other", "x");
    l["spec"].erase("renewTime");
    l["spec"].erase("acquireTime");
    CHECK(kube::decide_lease(l, now, "me", d).action == LeaseAction::Acquire);
  }
  SUBCASE("observed_at keeps a lease valid by our own clock") {
    auto l = lease("other", "2024-05-01T11:00:00Z");  // long expired by its renewTime
    CHECK(kube::decide_lease(l, now, "me", d, now).action == LeaseAction::Wait);
    CHECK(kube::decide_lease(l, now + 15s, "me", d, now).action == LeaseAction::Acquire);
  }
  SUBCASE("garbage is tolerated") {
    CHECK(kube::decide_lease(json("nope"), now, "me", d).action == LeaseAction::Acquire);
    CHECK(kube::decide_lease(json{{"spec", 3}}, now, "me", d).action == LeaseAction::Acquire);
  }
}

TEST_CASE("LeaseRecord::from_json") {
  auto r = kube::LeaseRecord::from_json(lease("x", "2024-05-01T12:00:00.250000Z", 20, 4));
  CHECK(r.holder == "x");
  CHECK(r.lease_duration_seconds == 20);
  CHECK(r.transitions == 4);
  CHECK(r.resource_version == "7");
  CHECK(r.renew_time == at("2024-05-01T12:00:00.25Z"));
}

// --- LeaderElector -------------------------------------------------------------------

TEST_CASE_FIXTURE(Fixture, "the first candidate creates the lease and leads") {
  CHECK_FALSE(a->is_leader());
  CHECK(a->step() == 2s);
  CHECK(a->is_leader());
  CHECK(a.started == 1);
  CHECK(api->creates == 1);
  CHECK(api->holder() == "pod-a");
  CHECK(api->spec()["leaseDurationSeconds"] == 15);
  CHECK(api->spec()["leaseTransitions"] == 0);
  CHECK(api->spec()["renewTime"] == "2024-05-01T12:00:00.000000Z");
  CHECK(api->spec()["acquireTime"] == "2024-05-01T12:00:00.000000Z");
  CHECK((*api->stored)["metadata"]["namespace"] == "sys");
  CHECK(a->leader() == "pod-a");
  CHECK(a.leaders_seen == std::vector<std::string>{"pod-a"});
  CHECK(std::find(a.logs.begin(), a.logs.end(), "leader election (pod-a): started leading") !=
        a.logs.end());
}

TEST_CASE_FIXTURE(Fixture, "the leader renews; the other candidate waits with jitter") {
  a->step();
  clock->advance(1s);
  CHECK(b->step() == 2s);  // retry_period * (1 + 1.2 * 0)
  CHECK_FALSE(b->is_leader());
  CHECK(b->leader() == "pod-a");
  for (int i = 0; i < 10; ++i) {
    clock->advance(2s);
    CHECK(a->step() == 2s);
    CHECK(b->step() == 2s);
    CHECK(a->is_leader());
    CHECK_FALSE(b->is_leader());
  }
  CHECK(api->spec()["renewTime"] == kube::format_micro_time(clock->now()));
  CHECK(api->spec()["acquireTime"] == "2024-05-01T12:00:00.000000Z");
  CHECK(api->spec()["leaseTransitions"] == 0);
  CHECK(a.started == 1);
  CHECK(b.started == 0);
}

TEST_CASE_FIXTURE(Fixture, "takeover only after the lease expired") {
  a->step();  // renewTime = T0
  const auto t0 = clock->now();
  clock->advance(5s);
  b->step();  // b first sees this lease version at T0+5
  // a dies. By renewTime the lease expires at T0+15; by b's own observation,
  // at T0+5+15 = T0+20 (b cannot trust a's clock).
  clock->set(t0 + 15s);
  b->step();
  CHECK_FALSE(b->is_leader());
  clock->set(t0 + 20s - 1us);
  b->step();
  CHECK_FALSE(b->is_leader());
  clock->set(t0 + 20s);
  b->step();
  CHECK(b->is_leader());
  CHECK(b.started == 1);
  CHECK(api->holder() == "pod-b");
  CHECK(api->spec()["leaseTransitions"] == 1);
  CHECK(api->spec()["acquireTime"] == kube::format_micro_time(t0 + 20s));
  CHECK(b.leaders_seen == std::vector<std::string>{"pod-a", "pod-b"});
}

TEST_CASE("without observed expiry, takeover happens at renewTime + duration") {
  auto clock = std::make_shared<kube::FakeClock>(at("2024-05-01T12:00:00Z"));
  auto api = std::make_shared<FakeLeaseApi>();
  Candidate a(api, clock, "pod-a");
  Candidate b(api, clock, "pod-b",
              [](kube::LeaderElectionConfig& c) { c.wait_observed_expiry = false; });
  a->step();
  clock->advance(15s - 1us);
  b->step();
  CHECK_FALSE(b->is_leader());
  clock->advance(1us);
  b->step();
  CHECK(b->is_leader());
}

TEST_CASE_FIXTURE(Fixture, "a candidate keeps waiting while the leader renews, however long") {
  a->step();
  for (int i = 0; i < 30; ++i) {
    clock->advance(2s);
    a->step();
    b->step();
  }
  CHECK_FALSE(b->is_leader());
  CHECK(api->holder() == "pod-a");
}

TEST_CASE_FIXTURE(Fixture, "409: of two candidates racing for an expired lease, one wins") {
  api->stored = lease("dead-pod", "2024-05-01T11:00:00Z");
  (*api->stored)["metadata"]["resourceVersion"] = "1";
  api->version = 1;
  Candidate a2(api, clock, "pod-a",
               [](kube::LeaderElectionConfig& c) { c.wait_observed_expiry = false; });
  Candidate b2(api, clock, "pod-b",
               [](kube::LeaderElectionConfig& c) { c.wait_observed_expiry = false; });
  // b reads the expired lease; before its update lands, a takes it.
  api->before_update = [&] { a2->step(); };
  b2->step();
  CHECK(a2->is_leader());
  CHECK_FALSE(b2->is_leader());
  CHECK(b2.started == 0);
  CHECK(api->holder() == "pod-a");
  CHECK(api->spec()["leaseTransitions"] == 1);
  // On its next round b sees a's fresh lease and waits.
  clock->advance(2s);
  b2->step();
  CHECK_FALSE(b2->is_leader());
  CHECK(b2->leader() == "pod-a");
}

TEST_CASE_FIXTURE(Fixture, "two candidates creating at once: the loser gets 409 and waits") {
  // b sees no lease; before its create lands, a creates it.
  api->before_create = [&] { a->step(); };
  b->step();
  CHECK(api->creates == 2);
  CHECK(a->is_leader());
  CHECK_FALSE(b->is_leader());
  CHECK(api->holder() == "pod-a");
  clock->advance(2s);
  b->step();
  CHECK_FALSE(b->is_leader());
  CHECK(b->leader() == "pod-a");
}

TEST_CASE_FIXTURE(Fixture, "release on shutdown lets the next candidate take over at once") {
  a->step();
  clock->advance(1s);
  b->step();
  a->release();
  CHECK_FALSE(a->is_leader());
  CHECK(a.stopped == 1);
  CHECK(api->holder() == "");
  CHECK(api->spec()["leaseDurationSeconds"] == 1);
  clock->advance(1ms);
  b->step();
  CHECK(b->is_leader());
  CHECK(api->holder() == "pod-b");
  CHECK(api->spec()["leaseTransitions"] == 1);
}

TEST_CASE_FIXTURE(Fixture, "release does not touch a lease held by someone else") {
  a->step();
  b->step();
  const int updates = api->updates;
  b->release();
  CHECK(api->updates == updates);
  CHECK(api->holder() == "pod-a");
  CHECK(b.stopped == 0);  // never led
}

TEST_CASE_FIXTURE(Fixture, "renew deadline: leadership ends by the clock, then the callback") {
  a->step();  // renewed at T0
  const auto t0 = clock->now();
  api->fail_gets = 1000;  // the apiserver is unreachable from now on
  clock->advance(2s);
  CHECK(a->step() == 2s);
  CHECK(a->is_leader());  // within the 10 s deadline: keep trying
  CHECK(a.stopped == 0);
  clock->set(t0 + 10s - 1us);
  CHECK(a->is_leader());
  clock->set(t0 + 10s);
  // No round ran, yet writers checking is_leader() stop now.
  CHECK_FALSE(a->is_leader());
  a->step();
  CHECK(a.stopped == 1);
  CHECK_FALSE(a->is_leader());
  // The API comes back: a competes again and, holding the lease still, renews.
  api->fail_gets = 0;
  clock->advance(2s);
  a->step();
  CHECK(a->is_leader());
  CHECK(a.started == 2);
}

TEST_CASE_FIXTURE(Fixture, "a wall clock stepped back ends leadership until the next renewal") {
  a->step();
  clock->advance(-1min);  // e.g. an NTP correction
  CHECK_FALSE(a->is_leader());
  a->step();  // notices, stops, then renews and leads again re-anchored
  CHECK(a.stopped == 1);
  CHECK(a.started == 2);
  CHECK(a->is_leader());
}

TEST_CASE_FIXTURE(Fixture, "renewals refused with 409 also run into the deadline") {
  a->step();
  api->conflict_updates = 1000;
  for (int i = 1; i <= 4; ++i) {
    clock->advance(2s);
    a->step();
    CHECK(a->is_leader());
  }
  clock->advance(2s);  // 10 s since the last success
  a->step();
  CHECK_FALSE(a->is_leader());
  CHECK(a.stopped == 1);
}

TEST_CASE_FIXTURE(Fixture, "a leader that finds the lease held by another stops at once") {
  a->step();
  // Someone (an operator with kubectl, a split brain) rewrote the holder.
  (*api->stored)["spec"]["holderIdentity"] = "pod-z";
  (*api->stored)["spec"]["renewTime"] = kube::format_micro_time(clock->now());
  (*api->stored)["metadata"]["resourceVersion"] = "99";
  clock->advance(2s);
  a->step();
  CHECK_FALSE(a->is_leader());
  CHECK(a.stopped == 1);
  CHECK(a->leader() == "pod-z");
}

TEST_CASE_FIXTURE(Fixture, "unknown lease fields are kept on update") {
  a->step();
  (*api->stored)["spec"]["strategy"] = "OldestEmulationVersion";
  (*api->stored)["metadata"]["labels"] = {{"app", "gtoken"}};
  clock->advance(2s);
  a->step();
  CHECK(api->spec()["strategy"] == "OldestEmulationVersion");
  CHECK((*api->stored)["metadata"]["labels"]["app"] == "gtoken");
}

TEST_CASE("run() loops with the injected sleep and releases on stop") {
  auto clock = std::make_shared<kube::FakeClock>(at("2024-05-01T12:00:00Z"));
  auto api = std::make_shared<FakeLeaseApi>();
  std::stop_source stop;
  std::vector<Clock::duration> sleeps;
  Candidate a(api, clock, "pod-a", [&](kube::LeaderElectionConfig& c) {
    c.sleep = [&](Clock::duration d, std::stop_token) {
      sleeps.push_back(d);
      clock->advance(d);
      if (sleeps.size() == 5) stop.request_stop();
      return !stop.stop_requested();
    };
  });
  a->run(stop.get_token());
  CHECK(sleeps == std::vector<Clock::duration>(5, 2s));
  CHECK(a.started == 1);
  CHECK(a.stopped == 1);
  CHECK_FALSE(a->is_leader());
  CHECK(api->holder() == "");
  CHECK(api->spec()["renewTime"] == kube::format_micro_time(clock->now()));
}

TEST_CASE("start()/stop() on a thread with real sleeping stop promptly") {
  auto api = std::make_shared<FakeLeaseApi>();
  auto clock = std::make_shared<kube::FakeClock>(at("2024-05-01T12:00:00Z"));
  // Held by someone else for a long time: the elector sits in its sleep.
  api->stored = lease("other", "2024-05-01T12:00:00Z", 3600);
  Candidate a(api, clock, "pod-a", [](kube::LeaderElectionConfig& c) {
    c.lease_duration = std::chrono::hours(2);
    c.renew_deadline = std::chrono::hours(1);
    c.retry_period = std::chrono::minutes(30);
  });
  a->start();
  const auto t = std::chrono::steady_clock::now();
  a->stop();
  a->stop();
  CHECK(std::chrono::steady_clock::now() - t < 10s);
  CHECK(api->holder() == "other");
}

TEST_CASE("invalid configurations are rejected") {
  auto api = std::make_shared<FakeLeaseApi>();
  auto clock = std::make_shared<kube::FakeClock>();
  auto make = [&](std::function<void(kube::LeaderElectionConfig&)> tweak) {
    Candidate c(api, clock, "pod-a", std::move(tweak));
  };
  CHECK_NOTHROW(make({}));
  CHECK_THROWS_AS(make([](auto& c) { c.identity.clear(); }), std::invalid_argument);
  CHECK_THROWS_AS(make([](auto& c) { c.lease_name.clear(); }), std::invalid_argument);
  CHECK_THROWS_AS(make([](auto& c) { c.renew_deadline = 20s; }), std::invalid_argument);
  CHECK_THROWS_AS(make([](auto& c) { c.retry_period = 10s; }), std::invalid_argument);
  CHECK_THROWS_AS(make([](auto& c) { c.retry_period = 0s; }), std::invalid_argument);
}
