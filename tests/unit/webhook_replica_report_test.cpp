// The replica report (webhook/replica_report): the Lease's content, written
// by create or GET + PUT (keeping what others put on it), and read back into
// live and long-expired reports on a fake clock.
#include <doctest/doctest.h>

#include <cctype>

#include "kube/clock.hpp"
#include "kube/time.hpp"
#include "webhook/replica_report.hpp"
#include "webhook_fake_cert_client.hpp"

using namespace gtoken::webhook;
using namespace std::chrono_literals;
using gtoken::webhook::testing::FakeCertClient;
using nlohmann::json;
using Calls = std::vector<std::string>;

namespace {

const ReplicaReportSpec kSpec{"gtoken-operator-7d9f/10.0.0.7", "gtoken-system", 30s};
const ServedFingerprints kServed{"cafe01", "beef02"};

}  // namespace

TEST_CASE("the report Lease says who serves which certificate of which CA, and until when") {
  kube::FakeClock clock;
  const json lease = replica_report_lease(kSpec, kServed, clock.now());
  CHECK(lease["kind"] == "Lease");
  CHECK(lease["apiVersion"] == "coordination.k8s.io/v1");
  CHECK(lease["metadata"]["name"] == replica_lease_name(kSpec.identity));
  CHECK(lease["metadata"]["namespace"] == "gtoken-system");
  CHECK(lease["metadata"]["labels"][kReplicaLabel] == "true");
  CHECK(lease["metadata"]["annotations"][kServingCertAnnotation] == "cafe01");
  CHECK(lease["metadata"]["annotations"][kServingCaAnnotation] == "beef02");
  CHECK(lease["spec"]["holderIdentity"] == kSpec.identity);
  CHECK(lease["spec"]["leaseDurationSeconds"] == 30);
  CHECK(lease["spec"]["renewTime"] == kube::format_micro_time(clock.now()));
}

TEST_CASE("replica_lease_name is stable, distinct and DNS-safe whatever the identity") {
  const std::string n = replica_lease_name(kSpec.identity);
  CHECK(n == replica_lease_name(kSpec.identity));
  CHECK(n != replica_lease_name("other"));
  CHECK(n.rfind("gtoken-webhook-", 0) == 0);
  CHECK(n.size() == std::string("gtoken-webhook-").size() + 16);
  for (const char c : n)
    CHECK((std::islower(static_cast<unsigned char>(c)) || std::isdigit(c) || c == '-'));
}

TEST_CASE("write_replica_report creates the Lease, then renews it keeping others' fields") {
  kube::FakeClock clock;
  FakeCertClient api;
  write_replica_report(api, kSpec, {}, clock.now());
  CHECK(api.take_calls() == Calls{"get_lease", "create_lease"});
  const std::string name = replica_lease_name(kSpec.identity);
  REQUIRE(api.leases.contains(name));
  CHECK(api.leases[name]["metadata"]["annotations"][kServingCaAnnotation] == "");

  // Someone else's label and annotation, and managedFields as the apiserver
  // returns them.
  api.leases[name]["metadata"]["labels"]["team"] = "a";
  api.leases[name]["metadata"]["annotations"]["note"] = "b";
  api.leases[name]["metadata"]["managedFields"] = json::array({json::object()});
  clock.advance(10s);
  write_replica_report(api, kSpec, kServed, clock.now());
  CHECK(api.take_calls() == Calls{"get_lease", "update_lease"});
  const json& stored = api.leases[name];
  CHECK(stored["metadata"]["labels"]["team"] == "a");
  CHECK(stored["metadata"]["labels"][kReplicaLabel] == "true");
  CHECK(stored["metadata"]["annotations"]["note"] == "b");
  CHECK(stored["metadata"]["annotations"][kServingCaAnnotation] == "beef02");
  CHECK(stored["metadata"]["annotations"][kServingCertAnnotation] == "cafe01");
  CHECK(stored["spec"]["renewTime"] == kube::format_micro_time(clock.now()));

  // A failed write is the caller's to retry.
  api.failures["update_lease"] = {500};
  CHECK_THROWS_AS(write_replica_report(api, kSpec, kServed, clock.now()), kube::ApiError);
}

TEST_CASE("read_replica_reports: live reports count, expired ones not, long-expired are listed") {
  kube::FakeClock clock;
  auto lease = [&](const std::string& who, const std::string& ca, kube::Clock::duration ago) {
    return replica_report_lease({who, "ns", 30s}, {"c", ca}, clock.now() - ago);
  };
  const json list = {{"items",
                      {lease("fresh", "ca1", 1s), lease("not-loaded", "", 29s),
                       lease("expired", "ca0", 31s), lease("gone", "ca0", 301s),
                       json{{"metadata", {{"name", "no-renew-time"}}}, {"spec", json::object()}},
                       json("not an object")}}};
  const ReplicaReports r = read_replica_reports(list, clock.now());
  REQUIRE(r.live.size() == 2);
  CHECK(r.live[0].identity == "fresh");
  CHECK(r.live[0].serving_ca_fingerprint == "ca1");
  CHECK(r.live[1].identity == "not-loaded");
  CHECK(r.live[1].serving_ca_fingerprint == "");
  CHECK(r.long_expired == std::vector<std::string>{replica_lease_name("gone")});
  CHECK(read_replica_reports(json::object(), clock.now()).live.empty());
}
