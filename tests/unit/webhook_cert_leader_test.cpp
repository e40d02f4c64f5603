// The leader's planner loop (webhook/cert_leader) against a scripted
// CertClient and hand-fed informer copies, on a fake clock: what a plan
// writes and in which order, read-your-writes, conflicts, followers, and a
// whole CA rotation driven by kube::Controller.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "kube/controller.hpp"
#include "kube/metrics.hpp"
#include "kube/rate_limiter.hpp"
#include "kube/workqueue.hpp"
#include "webhook/base64.hpp"
#include "webhook/ca_bundles.hpp"
#include "webhook/cert_leader.hpp"
#include "webhook/cert_serving.hpp"
#include "webhook/replica_report.hpp"
#include "webhook_fake_cert_client.hpp"
#include "webhook_test_policy.hpp"

using namespace gtoken::webhook;
using namespace std::chrono_literals;
using gtoken::webhook::testing::FakeCertClient;
using nlohmann::json;
using Calls = std::vector<std::string>;

namespace {

using gtoken::webhook::testing::test_policy;

json configuration(int webhooks) {
  json c = {{"metadata", {{"name", "gtoken"}, {"resourceVersion", "1"}}},
            {"webhooks", json::array()}};
  for (int i = 0; i < webhooks; ++i) {
    c["webhooks"].push_back({{"name", "w" + std::to_string(i) + ".gtoken.io"},
                             {"clientConfig", {{"url", "https://127.0.0.1/mutate"}}}});
  }
  return c;
}

std::shared_ptr<const json> copy_of(const std::optional<json>& obj) {
  return obj ? std::make_shared<const json>(*obj) : nullptr;
}

struct Fixture {
  std::shared_ptr<kube::FakeClock> clock = std::make_shared<kube::FakeClock>();
  std::shared_ptr<FakeCertClient> api = std::make_shared<FakeCertClient>();
  std::shared_ptr<kube::Metrics> metrics = std::make_shared<kube::Metrics>();
  CertView view;  // what the informers hold
  bool leading = true;
  CertLeader leader{
      CertLeaderOptions{"gtoken-webhook-cert", "gtoken-system", "gtoken", test_policy()},
      api,
      [this] { return view; },
      [this] { return leading; },
      clock,
      metrics,
      nullptr};

  Fixture() {
    api->mutating = configuration(2);
    api->validating = configuration(1);
    sync();
  }

  // The informers catch up with the apiserver.
  void sync() {
    view.synced = true;
    view.secret = copy_of(api->secret);
    view.mutating = copy_of(api->mutating);
    view.validating = copy_of(api->validating);
  }

  CertState stored_state() const { return cert_state_from_secret(*api->secret); }
};

void check_requeue_after(const kube::Result& r, kube::Clock::duration d) {
  REQUIRE(r.kind() == kube::Result::Kind::RequeueAfter);
  CHECK(r.after() == d);
}

// The CA certificates the first webhook of `config` holds.
std::vector<std::string> bundle_of(const json& config) {
  return ca_bundles_of(config).at(0);
}

}  // namespace

TEST_CASE_FIXTURE(Fixture, "bootstrap: the Secret is created first, then both caBundles") {
  check_requeue_after(leader.reconcile(), 0s);
  CHECK(api->take_calls() == Calls{"create_secret", "update_mutating", "update_validating"});
  const CertState state = stored_state();
  REQUIRE(state.ca);
  REQUIRE(state.serving);
  CHECK(certificate_verifies(state.serving->cert_pem, state.ca->cert_pem, clock->now()));
  CHECK((*api->secret)["metadata"]["labels"]["app.kubernetes.io/component"] ==
        "webhook-certificate");
  // Every webhook of both configurations holds exactly the CA.
  for (const json* c : {&*api->mutating, &*api->validating}) {
    for (const auto& b : ca_bundles_of(*c)) CHECK(same_certificates(b, {state.ca->cert_pem}));
  }
  CHECK(ca_bundles_of(*api->mutating).size() == 2);
  CHECK(metrics->value("gtoken_webhook_certificate_rotations_total", {{"action", "CreateCa"}}) ==
        1);
}

TEST_CASE_FIXTURE(Fixture,
                  "read-your-writes: a stale informer copy after our write is not acted on") {
  leader.reconcile();
  api->take_calls();
  // The informers still show the world before the writes: no Secret, no
  // caBundle. Planning from that would create a second CA.
  for (int i = 0; i < 4; ++i) {
    check_requeue_after(leader.reconcile(), 50ms);
    clock->advance(1s);
  }
  CHECK(api->take_calls().empty());

  // Only the Secret has arrived: still waiting for the configurations.
  view.secret = copy_of(api->secret);
  check_requeue_after(leader.reconcile(), 50ms);
  CHECK(api->take_calls().empty());

  sync();
  const kube::Result r = leader.reconcile();
  CHECK(api->take_calls().empty());  // nothing left to do
  REQUIRE(r.kind() == kube::Result::Kind::RequeueAfter);
  CHECK(r.after() >= 100ms);
  CHECK(r.after() <= 30s);
}

TEST_CASE_FIXTURE(Fixture, "past the wait's deadline the caches are trusted; a 409 plans afresh") {
  leader.reconcile();
  api->take_calls();
  clock->advance(5s);  // the write never showed (say someone overwrote it at once)
  // Planning from the stale copy (no Secret) tries to create one, which the
  // apiserver refuses: the stored one wins, and the leader plans again soon.
  check_requeue_after(leader.reconcile(), 200ms);
  CHECK(api->take_calls() == Calls{"create_secret"});
  // The pending writes were dropped with the 409: the next turn plans at
  // once from the caches, which have caught up by then.
  sync();
  leader.reconcile();
  CHECK(api->take_calls().empty());
}

TEST_CASE_FIXTURE(Fixture, "a follower writes nothing; unsynced caches are waited for") {
  leading = false;
  check_requeue_after(leader.reconcile(), 2s);
  leading = true;
  view.synced = false;
  check_requeue_after(leader.reconcile(), 200ms);
  CHECK(api->take_calls().empty());
}

TEST_CASE_FIXTURE(Fixture,
                  "an overwritten caBundle is put back on the configuration that differs") {
  leader.reconcile();
  sync();
  leader.reconcile();  // the caches show our writes: settled
  CHECK(api->take_calls().size() == 3);
  json overwritten = *api->validating;
  overwritten["webhooks"][0]["clientConfig"]["caBundle"] = base64_encode("garbage");
  api->validating = api->update_config(WebhookConfigKind::Validating, overwritten);
  api->take_calls();
  sync();
  check_requeue_after(leader.reconcile(), 0s);
  CHECK(api->take_calls() == Calls{"update_validating"});
  CHECK(same_certificates(bundle_of(*api->validating), {stored_state().ca->cert_pem}));
}

TEST_CASE_FIXTURE(Fixture,
                  "write failures: 409 plans again in 200 ms, a 500 is a rate-limited error") {
  api->failures["update_mutating"] = {409};
  check_requeue_after(leader.reconcile(), 200ms);
  // The Secret was written before the configuration failed.
  CHECK(api->take_calls() == Calls{"create_secret", "update_mutating"});
  sync();
  api->failures["update_mutating"] = {500};
  const kube::Result r = leader.reconcile();
  CHECK(r.is_error());
  CHECK_FALSE(r.terminal());
  CHECK(api->take_calls() == Calls{"update_mutating"});
  sync();
  check_requeue_after(leader.reconcile(), 0s);
  CHECK(api->take_calls() == Calls{"update_mutating", "update_validating"});
}

TEST_CASE_FIXTURE(Fixture, "a missing MutatingWebhookConfiguration: the Secret is still made") {
  api->mutating.reset();
  sync();
  check_requeue_after(leader.reconcile(), 0s);
  CHECK(api->take_calls() == Calls{"create_secret"});
}

TEST_CASE_FIXTURE(Fixture, "a whole CA rotation driven by kube::Controller on a fake clock") {
  auto queue = std::make_shared<kube::WorkQueue>(
      clock, std::make_shared<kube::BackoffRateLimiter>(kube::BackoffPolicy{200ms, 2s}));
  kube::Controller controller(queue, [this](const std::string&) { return leader.reconcile(); });
  queue->add("plan");

  const ReplicaReportSpec replica{"replica-a", "gtoken-system", 30s};
  std::set<std::string> cas_seen;
  std::size_t widest_bundle = 0;
  bool retired_seen = false;
  for (int tick = 0; tick < 4 * 70; ++tick) {  // 70 s in 250 ms ticks
    queue->process_delayed();
    for (int turns = 0; turns < 20 && controller.process_ready(); ++turns) sync();
    REQUIRE(api->secret);
    const CertState state = stored_state();
    REQUIRE(state.serving);
    // The replica serves what is stored and reports it.
    write_replica_report(*api, replica, served_fingerprints(state, *state.serving, clock->now()),
                         clock->now());
    // Invariant: what is served verifies against every stored caBundle.
    for (const json* c : {&*api->mutating, &*api->validating}) {
      for (const auto& b : ca_bundles_of(*c)) {
        REQUIRE(certificate_verifies(state.serving->cert_pem, join_pem(b), clock->now()));
        widest_bundle = std::max(widest_bundle, b.size());
      }
    }
    cas_seen.insert(state.ca->cert_pem);
    retired_seen = retired_seen || state.retired_ca.has_value();
    clock->advance(250ms);
  }
  CHECK(cas_seen.size() >= 3);  // 40 s CAs over 70 s
  CHECK(widest_bundle == 2);    // current + next, or current + retired
  CHECK(retired_seen);
  CHECK(metrics->value("gtoken_webhook_certificate_rotations_total",
                       {{"action", "PromoteNextCa"}}) >= 2);
  CHECK(metrics->value("gtoken_webhook_certificate_rotations_total", {{"action", "RetireOldCa"}}) >=
        1);
  CHECK(queue->num_requeues("plan") == 0);  // no failures on the way
}

TEST_CASE_FIXTURE(Fixture, "long-expired replica reports are deleted while a retired CA waits") {
  // Bootstrap, then reach a state with a retired CA by rotating once.
  leader.reconcile();
  sync();
  const ReplicaReportSpec gone{"gone", "gtoken-system", 30s};
  write_replica_report(*api, gone, {"cert", "ca"}, clock->now() - 301s);
  const ReplicaReportSpec late{"late", "gtoken-system", 30s};
  write_replica_report(*api, late, {"cert", "ca"}, clock->now() - 60s);
  api->take_calls();
  for (int i = 0; i < 4 * 40 && !stored_state().retired_ca; ++i) {
    clock->advance(250ms);
    for (int turns = 0; turns < 10; ++turns) {
      leader.reconcile();
      sync();
    }
  }
  REQUIRE(stored_state().retired_ca);
  leader.reconcile();
  const Calls calls = api->take_calls();
  CHECK(std::find(calls.begin(), calls.end(), "delete_lease:" + replica_lease_name("gone")) !=
        calls.end());
  CHECK(std::find(calls.begin(), calls.end(), "delete_lease:" + replica_lease_name("late")) ==
        calls.end());
  CHECK_FALSE(api->leases.contains(replica_lease_name("gone")));
  CHECK(api->leases.contains(replica_lease_name("late")));
}
