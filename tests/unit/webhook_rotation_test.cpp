// The rotation planner: single transitions, then a whole simulated life of
// the PKI with a fake clock, lagging apiservers and lagging replicas, checking
// at every tick that what the replica serves verifies against the caBundle the
// apiserver uses.
#include <doctest/doctest.h>

#include <deque>
#include <set>

#include "kube/clock.hpp"
#include "webhook/rotation.hpp"
#include "webhook_test_policy.hpp"

using namespace gtoken::webhook;
using namespace std::chrono_literals;
using Actions = std::vector<RotationAction>;

namespace {

using gtoken::webhook::testing::test_policy;

// Plans and applies until nothing is left to do; returns every action taken.
struct Leader {
  RotationPolicy policy = test_policy();
  CertState secret;
  std::vector<std::string> bundle;  // the stored caBundle
  bool config_exists = true;
  std::vector<ReplicaReport> replicas;

  Actions step(TimePoint now, int rounds = 8) {
    Actions all;
    for (int i = 0; i < rounds; ++i) {
      RotationInput in;
      in.state = secret;
      if (config_exists) in.ca_bundle = bundle;
      in.replicas = replicas;
      in.now = now;
      const RotationPlan plan = plan_rotation(in, policy);
      if (plan.actions.empty()) break;
      for (const auto a : plan.actions) {
        all.push_back(a);
        if (a == RotationAction::PublishCaBundle) {
          if (config_exists) bundle = desired_ca_bundle(secret);
        } else {
          secret = apply_rotation(secret, a, policy, now);
        }
      }
    }
    return all;
  }

  RotationPlan plan(TimePoint now) const {
    RotationInput in;
    in.state = secret;
    if (config_exists) in.ca_bundle = bundle;
    in.replicas = replicas;
    in.now = now;
    return plan_rotation(in, policy);
  }
};

std::string fingerprint(const std::string& pem) {
  auto facts = inspect_certificate(pem);
  REQUIRE(facts);
  return facts->fingerprint;
}

}  // namespace

TEST_CASE("policy validation") {
  CHECK(validate_policy(test_policy()) == std::nullopt);
  RotationPolicy p = test_policy();
  p.cert_lookahead = p.serving.validity;
  CHECK(validate_policy(p));
  p = test_policy();
  p.ca_lookahead = 5s;  // not more than cert lookahead + publish delay
  CHECK(validate_policy(p));
  p = test_policy();
  p.retire_grace = 18s;
  CHECK(validate_policy(p));
  p = test_policy();
  p.serving.dns_names = {};
  CHECK(validate_policy(p));
  p = test_policy();
  p.serving.ip_addresses = {"localhost"};
  CHECK(validate_policy(p));
}

TEST_CASE("bootstrap: CA, serving certificate, then the bundle") {
  kube::FakeClock clock;
  Leader l;
  const RotationPlan first = l.plan(clock.now());
  CHECK(first.actions == Actions{RotationAction::CreateCa, RotationAction::IssueServingCert,
                                 RotationAction::PublishCaBundle});
  CHECK(first.next_check == clock.now());
  l.step(clock.now());
  REQUIRE(l.secret.ca);
  REQUIRE(l.secret.serving);
  CHECK(certificate_verifies(l.secret.serving->cert_pem, join_pem(l.bundle), clock.now()));
  CHECK(same_certificates(l.bundle, {l.secret.ca->cert_pem}));

  // Settled: nothing to do until the serving certificate's lookahead.
  const RotationPlan idle = l.plan(clock.now());
  CHECK(idle.actions.empty());
  CHECK(idle.next_check == clock.now() + 6s);
}

TEST_CASE("no webhook configuration: certificates, but nothing published or promoted") {
  kube::FakeClock clock;
  Leader l;
  l.config_exists = false;
  l.step(clock.now());
  REQUIRE(l.secret.ca);
  clock.advance(25s);  // CA into its lookahead
  const Actions a = l.step(clock.now());
  CHECK(a == Actions{RotationAction::CreateNextCa, RotationAction::IssueServingCert});
  // The next CA is never seen published: no promotion, ever.
  for (int i = 0; i < 12; ++i) {
    clock.advance(1s);
    for (const auto a : l.step(clock.now())) {
      CHECK(a != RotationAction::PromoteNextCa);
      CHECK(a != RotationAction::MarkNextCaPublished);
    }
  }
  CHECK_FALSE(l.secret.next_ca_published_at);
}

TEST_CASE("serving rotation keeps the CA and the bundle") {
  kube::FakeClock clock;
  Leader l;
  l.step(clock.now());
  const auto ca = l.secret.ca;
  const auto serving = l.secret.serving;
  clock.advance(5s);
  CHECK(l.plan(clock.now()).actions.empty());
  clock.advance(1s);
  CHECK(l.step(clock.now()) == Actions{RotationAction::IssueServingCert});
  CHECK(l.secret.ca == ca);
  CHECK(l.secret.serving != serving);
}

TEST_CASE("a shortened validity replaces longer-lived certificates, the CA through rotation") {
  kube::FakeClock clock;
  Leader l;
  l.policy.serving.validity = 3600s;
  l.policy.cert_lookahead = 600s;
  l.policy.ca_validity = 36000s;
  l.policy.ca_lookahead = 3600s;
  l.step(clock.now());
  CHECK(l.plan(clock.now()).actions.empty());
  l.policy = test_policy();
  CHECK(l.plan(clock.now()).actions == Actions{RotationAction::CreateNextCa,
                                               RotationAction::IssueServingCert,
                                               RotationAction::PublishCaBundle});
}

TEST_CASE("serving certificate for other names, or from another CA, is reissued") {
  kube::FakeClock clock;
  Leader l;
  l.step(clock.now());
  l.policy.serving.ip_addresses = {"127.0.0.1", "10.0.0.7"};
  CHECK(l.plan(clock.now()).actions == Actions{RotationAction::IssueServingCert});
  l.step(clock.now());
  l.secret.serving =
      issue_serving_certificate(create_ca("x", clock.now(), 40s), l.policy.serving, clock.now());
  CHECK(l.plan(clock.now()).actions == Actions{RotationAction::IssueServingCert});
}

TEST_CASE("CA rotation: publish beside, wait, promote, wait for replicas, retire") {
  kube::FakeClock clock;
  Leader l;
  l.step(clock.now());
  const std::string old_ca = fingerprint(l.secret.ca->cert_pem);
  l.replicas = {{"a", old_ca}, {"b", old_ca}};

  clock.advance(20s);  // the CA (40 s) reaches its 20 s lookahead
  RotationPlan p = l.plan(clock.now());
  REQUIRE(!p.actions.empty());
  CHECK(p.actions.front() == RotationAction::CreateNextCa);
  CHECK(p.actions.back() == RotationAction::PublishCaBundle);
  l.step(clock.now(), 1);
  REQUIRE(l.secret.next_ca);
  CHECK(fingerprint(l.secret.ca->cert_pem) == old_ca);  // still signing
  CHECK(l.bundle.size() == 2);

  // The stored bundle holds it: note the time, then wait the publish delay.
  CHECK(l.plan(clock.now()).actions == Actions{RotationAction::MarkNextCaPublished});
  l.step(clock.now(), 1);
  p = l.plan(clock.now());
  CHECK(p.actions.empty());
  CHECK(p.next_check == clock.now() + 2s);
  clock.advance(2s);
  p = l.plan(clock.now());
  CHECK(p.actions == Actions{RotationAction::PromoteNextCa, RotationAction::IssueServingCert});
  l.step(clock.now(), 1);
  const std::string new_ca = fingerprint(l.secret.ca->cert_pem);
  CHECK(new_ca != old_ca);
  REQUIRE(l.secret.retired_ca);
  CHECK(fingerprint(*l.secret.retired_ca) == old_ca);
  CHECK(l.bundle.size() == 2);  // both still published
  CHECK(certificate_verifies(l.secret.serving->cert_pem, l.secret.ca->cert_pem, clock.now()));

  // Grace period, then replicas: one still serves the old CA.
  clock.advance(3s);
  l.replicas = {{"a", new_ca}, {"b", old_ca}, {"starting", ""}};
  p = l.plan(clock.now());
  CHECK(p.actions.empty());
  CHECK(p.waiting_for_replicas);
  CHECK(p.next_check == clock.now() + 1s);
  l.replicas[1].serving_ca_fingerprint = new_ca;
  p = l.plan(clock.now());
  CHECK(p.actions == Actions{RotationAction::RetireOldCa, RotationAction::PublishCaBundle});
  l.step(clock.now());
  CHECK_FALSE(l.secret.retired_ca);
  CHECK(same_certificates(l.bundle, {l.secret.ca->cert_pem}));
}

TEST_CASE("the retired CA is not removed before the grace period, even with every report in") {
  kube::FakeClock clock;
  Leader l;
  l.step(clock.now());
  clock.advance(20s);
  l.step(clock.now());
  clock.advance(2s);
  l.step(clock.now());
  REQUIRE(l.secret.retired_ca);
  l.replicas = {{"a", fingerprint(l.secret.ca->cert_pem)}};
  clock.advance(2s);
  CHECK(l.plan(clock.now()).actions.empty());
  clock.advance(1s);
  CHECK(l.plan(clock.now()).actions.front() == RotationAction::RetireOldCa);
}

TEST_CASE("an overwritten caBundle is put back; a lost next CA is published and waited for again") {
  kube::FakeClock clock;
  Leader l;
  l.step(clock.now());
  l.bundle = {};
  CHECK(l.plan(clock.now()).actions == Actions{RotationAction::PublishCaBundle});
  l.step(clock.now());
  l.bundle = {create_ca("intruder", clock.now(), 40s).cert_pem};
  CHECK(l.plan(clock.now()).actions == Actions{RotationAction::PublishCaBundle});
  l.step(clock.now());

  clock.advance(20s);
  l.step(clock.now());
  REQUIRE(l.secret.next_ca_published_at);
  l.bundle = {l.secret.ca->cert_pem};  // someone reapplied the old configuration
  CHECK(l.plan(clock.now()).actions ==
        Actions{RotationAction::ClearNextCaPublished, RotationAction::PublishCaBundle});
  l.step(clock.now());
  // Seen again now: the publish delay starts over.
  REQUIRE(l.secret.next_ca_published_at);
  CHECK(*l.secret.next_ca_published_at == clock.now());
}

TEST_CASE("an expired CA is replaced at once: by the next CA when there is one") {
  kube::FakeClock clock;
  Leader l;
  l.step(clock.now());
  clock.advance(20s);
  l.step(clock.now());  // next CA created and published, not yet promoted
  const auto next = l.secret.next_ca;
  REQUIRE(next);
  clock.advance(21s);  // operator was away: the CA has expired
  const RotationPlan p = l.plan(clock.now());
  CHECK(p.actions == Actions{RotationAction::PromoteNextCa, RotationAction::IssueServingCert,
                             RotationAction::PublishCaBundle});
  l.step(clock.now());
  CHECK(l.secret.ca == next);

  Leader fresh;
  fresh.step(clock.now());
  clock.advance(41s);
  CHECK(fresh.plan(clock.now()).actions == Actions{RotationAction::CreateCa,
                                                   RotationAction::IssueServingCert,
                                                   RotationAction::PublishCaBundle});
}

TEST_CASE("an unusable Secret (garbage, mismatched key) starts over") {
  kube::FakeClock clock;
  Leader l;
  l.secret.ca = CertKeyPem{"not a cert", "not a key"};
  CHECK(l.plan(clock.now()).actions.front() == RotationAction::CreateCa);
  l.secret.ca = create_ca("a", clock.now(), 40s);
  l.secret.ca->key_pem = create_ca("b", clock.now(), 40s).key_pem;
  CHECK(l.plan(clock.now()).actions.front() == RotationAction::CreateCa);
}

// A whole life: 4 CA generations, many serving certificates. The apiserver
// uses the stored caBundle `api_lag` late, the replica loads the Secret
// `replica_lag` late and reports what it serves. At every tick, what the
// replica serves must verify against the bundle the apiserver uses.
TEST_CASE("simulation: never serving a certificate the apiserver cannot verify") {
  kube::FakeClock clock;
  Leader l;
  const auto api_lag = 1500ms;
  const auto replica_lag = 700ms;
  std::deque<std::pair<TimePoint, std::vector<std::string>>> bundles;  // (stored at, bundle)
  std::deque<std::pair<TimePoint, CertState>> secrets;                 // (written at, state)
  const TimePoint start = clock.now();
  std::set<std::string> servings, cas;
  int checked = 0;

  while (clock.now() < start + 170s) {
    const TimePoint now = clock.now();
    const auto before_bundle = l.bundle;
    const auto before_secret = l.secret;
    l.step(now);
    if (l.bundle != before_bundle || bundles.empty()) bundles.emplace_back(now, l.bundle);
    if (!(l.secret == before_secret) || secrets.empty()) secrets.emplace_back(now, l.secret);

    auto latest = [&](auto& history, auto lag) {
      while (history.size() > 1 && history[1].first + lag <= now) history.pop_front();
      return history.front().first + lag <= now ? &history.front().second : nullptr;
    };
    const auto* api_bundle = latest(bundles, api_lag);
    const auto* served = latest(secrets, replica_lag);
    if (served && served->serving && served->ca) {
      l.replicas = {{"r", fingerprint(served->ca->cert_pem)}};
      servings.insert(fingerprint(served->serving->cert_pem));
      cas.insert(fingerprint(served->ca->cert_pem));
      if (api_bundle && !api_bundle->empty()) {
        INFO("t = " << std::chrono::duration<double>(now - start).count() << " s");
        CHECK(certificate_verifies(served->serving->cert_pem, join_pem(*api_bundle), now));
        ++checked;
      }
    }
    // The bundle never grows beyond current + next + retired.
    CHECK(l.bundle.size() <= 3);
    clock.advance(250ms);
  }
  CHECK(checked > 600);
  CHECK(cas.size() >= 4);
  CHECK(servings.size() >= 20);
}
