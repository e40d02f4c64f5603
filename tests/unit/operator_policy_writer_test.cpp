// PolicyWriter: read-modify-write with etags, the policy cache, retries on
// 409, and group commit of concurrent changes to one GSA. A fake IAM policy
// store stands in for Google.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "operator/policy.hpp"
#include "operator/policy_writer.hpp"

using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kRole = gtoken::kWorkloadIdentityUserRole;

struct Conflict : std::runtime_error {
  Conflict() : std::runtime_error("409 ABORTED") {}
};

// One GSA's policy with Google's etag rule.
struct FakeIam {
  std::mutex mu;
  json policy = {{"version", 1}, {"etag", "e0"}};
  int etag_seq = 0;
  int reads = 0;
  int writes = 0;
  int storm = 0;  // next N writes answer 409
  std::function<void()> in_write;  // runs inside a write, before it lands

  json read() {
    std::lock_guard l(mu);
    ++reads;
    return policy;
  }
  json write(const json& p) {
    if (in_write) in_write();
    std::lock_guard l(mu);
    ++writes;
    if (storm > 0) {
      --storm;
      throw Conflict();
    }
    if (p.value("etag", "") != policy.value("etag", "")) throw Conflict();
    policy = p;
    policy["etag"] = "e" + std::to_string(++etag_seq);
    return policy;
  }
  // Someone else changes the policy (new etag).
  void external(const std::string& member, bool add) {
    std::lock_guard l(mu);
    auto e = add ? gtoken::add_member(policy, kRole, member) : gtoken::remove_member(policy, kRole, member);
    policy = e.policy;
    policy["etag"] = "x" + std::to_string(++etag_seq);
  }
  bool has(const std::string& m) {
    std::lock_guard l(mu);
    return gtoken::has_member(policy, kRole, m);
  }
};

struct Fixture {
  FakeIam iam;
  std::shared_ptr<kube::FakeClock> clock = std::make_shared<kube::FakeClock>();
  std::unique_ptr<gtoken::PolicyWriter> writer;
  explicit Fixture(gtoken::PolicyWriter::Options o = {}) {
    writer = std::make_unique<gtoken::PolicyWriter>(
        [this](const std::string&) { return iam.read(); },
        [this](const std::string&, const json& p) { return iam.write(p); },
        [](const std::exception& e) { return dynamic_cast<const Conflict*>(&e) != nullptr; }, o,
        clock, kube::fixed_random(0.5));
  }
};

}  // namespace

TEST_CASE("a grant reads, writes once, and the cache answers the next check") {
  Fixture f;
  f.writer->apply("g", kRole, "m1", true);
  CHECK(f.iam.has("m1"));
  CHECK(f.iam.reads == 1);
  CHECK(f.iam.writes == 1);
  f.writer->apply("g", kRole, "m1", true);  // fresh cache says so: no call
  CHECK(f.iam.reads == 1);
  CHECK(f.iam.writes == 1);
  CHECK(f.writer->stats().cache_hits == 1);
}

TEST_CASE("after the TTL the policy is read again; no write when nothing changes") {
  Fixture f;
  f.writer->apply("g", kRole, "m1", true);
  f.clock->advance(31s);
  f.writer->apply("g", kRole, "m1", true);
  CHECK(f.iam.reads == 2);
  CHECK(f.iam.writes == 1);
}

TEST_CASE("drift made outside is seen once the cache expires") {
  Fixture f;
  f.writer->apply("g", kRole, "m1", true);
  f.iam.external("m1", false);
  f.writer->apply("g", kRole, "m1", true);  // cache still fresh: trusted
  CHECK_FALSE(f.iam.has("m1"));
  f.clock->advance(31s);
  f.writer->apply("g", kRole, "m1", true);
  CHECK(f.iam.has("m1"));
}

TEST_CASE("a write from a stale cached etag is retried at once from a fresh read") {
  Fixture f;
  f.writer->apply("g", kRole, "m1", true);
  f.iam.external("other", true);  // etag moves on
  auto before = f.clock->now();
  f.writer->apply("g", kRole, "m2", true);
  CHECK(f.iam.has("m1"));
  CHECK(f.iam.has("m2"));
  CHECK(f.iam.has("other"));  // nothing dropped
  CHECK(f.clock->now() == before);  // no backoff for the expected stale etag
  CHECK(f.writer->stats().conflicts == 1);
}

TEST_CASE("a 409 storm is retried with backoff and then gives up") {
  gtoken::PolicyWriter::Options o;
  o.conflict_retries = 4;
  Fixture f(o);
  f.iam.storm = 3;
  auto before = f.clock->now();
  f.writer->apply("g", kRole, "m1", true);
  CHECK(f.iam.has("m1"));
  CHECK(f.clock->now() > before);  // slept between attempts
  f.iam.storm = 10;
  CHECK_THROWS_AS(f.writer->apply("g", kRole, "m2", true), Conflict);
  CHECK_FALSE(f.iam.has("m2"));
}

TEST_CASE("removal, and removal of an absent member costs no write") {
  Fixture f;
  f.writer->apply("g", kRole, "m1", true);
  f.writer->apply("g", kRole, "m1", false);
  CHECK_FALSE(f.iam.has("m1"));
  int writes = f.iam.writes;
  f.writer->apply("g", kRole, "m1", false);
  CHECK(f.iam.writes == writes);
}

TEST_CASE("other errors reach the caller and nothing is cached from them") {
  Fixture f;
  f.iam.in_write = [] { throw std::runtime_error("503"); };
  CHECK_THROWS_WITH(f.writer->apply("g", kRole, "m1", true), "503");
  f.iam.in_write = nullptr;
  f.writer->apply("g", kRole, "m1", true);
  CHECK(f.iam.has("m1"));
}

TEST_CASE("the leader check runs before every write") {
  gtoken::PolicyWriter::Options o;
  bool leader = false;
  o.before_write = [&] {
    if (!leader) throw std::runtime_error("not the leader");
  };
  Fixture f(o);
  CHECK_THROWS_WITH(f.writer->apply("g", kRole, "m1", true), "not the leader");
  CHECK(f.iam.writes == 0);
  leader = true;
  f.writer->apply("g", kRole, "m1", true);
  CHECK(f.iam.writes == 1);
}

TEST_CASE("concurrent changes to one GSA ride on one write") {
  Fixture f;
  // The first write blocks until every other caller has queued up.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> in_first{0};
  f.iam.in_write = [&] {
    if (in_first.fetch_add(1) == 0) {
      std::unique_lock l(mu);
      cv.wait(l, [&] { return release; });
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back([&] { f.writer->apply("g", kRole, "m0", true); });
  while (in_first.load() == 0) std::this_thread::sleep_for(1ms);
  for (int i = 1; i <= 8; ++i) {
    threads.emplace_back([&, i] { f.writer->apply("g", kRole, "m" + std::to_string(i), true); });
  }
  std::this_thread::sleep_for(100ms);  // let them queue behind the write in flight
  {
    std::lock_guard l(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  for (int i = 0; i <= 8; ++i) CHECK(f.iam.has("m" + std::to_string(i)));
  CHECK(f.iam.writes == 2);  // the first, then one carrying the other eight
  CHECK(f.iam.reads == 1);   // the second started from the first's answer
}

TEST_CASE("in one batch a member one binding drops and another adds stays") {
  gtoken::PolicyWriter::Options o;
  o.cache_ttl = 0ms;  // no cache: both changes must queue
  Fixture f(o);
  f.writer->apply("g", kRole, "shared", true);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> n{0};
  f.iam.in_write = [&] {
    if (n.fetch_add(1) == 0) {
      std::unique_lock l(mu);
      cv.wait(l, [&] { return release; });
    }
  };
  std::thread first([&] { f.writer->apply("g", kRole, "blocker", true); });
  while (n.load() == 0) std::this_thread::sleep_for(1ms);
  std::thread remove([&] { f.writer->apply("g", kRole, "shared", false); });
  std::thread add([&] { f.writer->apply("g", kRole, "shared", true); });
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard l(mu);
    release = true;
  }
  cv.notify_all();
  first.join();
  add.join();
  remove.join();
  CHECK(f.iam.has("blocker"));
  CHECK(f.iam.has("shared"));
}

TEST_CASE("GSAs are independent") {
  Fixture f;
  f.writer->apply("a", kRole, "m1", true);
  f.writer->apply("b", kRole, "m2", true);
  CHECK(f.iam.reads == 2);  // b's policy is not a's: its own read, not a's cache
  CHECK(f.iam.writes == 2);
}
