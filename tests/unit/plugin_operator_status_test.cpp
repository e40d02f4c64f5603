#include <doctest/doctest.h>

#include "kube/base64.hpp"
#include "kube/time.hpp"
#include "plugin/operator_status.hpp"
#include "plugin/render.hpp"
#include "webhook/certs.hpp"
#include "webhook/replica_report.hpp"

using namespace gtoken::plugin;
using nlohmann::json;
using namespace std::chrono_literals;
namespace wh = gtoken::webhook;

namespace {

const TimePoint kNow = TimePoint{} + std::chrono::seconds(1800000000);

struct Pki {
  wh::CertKeyPem ca = wh::create_ca("gtoken-ca", kNow - 1h, 8760h);
  wh::CertKeyPem serving = wh::issue_serving_certificate(
      ca, {{"gtoken-webhook.gtoken-system.svc"}, {}, 720h}, kNow - 1h);
};

const Pki& pki() {
  static const Pki p;
  return p;
}

json webhook_config(const std::string& ca_pem) {
  return {{"webhooks",
           {{{"name", "pods.gtoken.io"},
             {"clientConfig", {{"caBundle", kube::base64_encode(ca_pem)}}}}}}};
}

json report(const std::string& identity, const std::string& ca_pem, TimePoint renewed) {
  return wh::replica_report_lease({identity, "gtoken-system", 30s},
                                  {"", wh::inspect_certificate(ca_pem)->fingerprint}, renewed);
}

OperatorFacts healthy() {
  OperatorFacts f;
  f.namespace_ = "gtoken-system";
  f.now = kNow;
  f.deployment = {json{{"spec", {{"replicas", 2}}}, {"status", {{"readyReplicas", 2}}}}, ""};
  f.leader_lease = {json{{"spec",
                          {{"holderIdentity", "gtoken-operator-a"},
                           {"leaseDurationSeconds", 15},
                           {"renewTime", kube::format_micro_time(kNow - 3s)}}}},
                    ""};
  f.replica_reports = {json{{"items",
                             {report("gtoken-operator-a", pki().ca.cert_pem, kNow - 5s),
                              report("gtoken-operator-b", pki().ca.cert_pem, kNow - 5s)}}},
                       ""};
  f.serving_secret = {json{{"data", {{"tls.crt", kube::base64_encode(pki().serving.cert_pem)}}}},
                      ""};
  f.mutating_config = {webhook_config(pki().ca.cert_pem), ""};
  f.validating_config = {webhook_config(pki().ca.cert_pem), ""};
  f.bindings = {json{{"items",
                      {{{"metadata", {{"name", "a"}, {"namespace", "jobs"}}},
                        {"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}}}}},
                ""};
  return f;
}

const Link& link(const Report& r, const std::string& id) {
  for (const auto& l : r.links) {
    if (l.id == id) return l;
  }
  FAIL("no link " << id);
  return r.links.front();
}

}  // namespace

TEST_CASE("a healthy operator: every link holds") {
  Report r = operator_status(healthy());
  INFO(render_text(r, false));
  CHECK(all_hold(r));
  CHECK(link(r, "replicas").detail == "2/2");
  CHECK(link(r, "leader").detail.find("gtoken-operator-a") != std::string::npos);
  CHECK(link(r, "servingCertificate").detail.find("in 29 d") != std::string::npos);
  CHECK(link(r, "caBundle").detail == "all 2 replicas match");
}

TEST_CASE("replicas not ready, no leader, an expired lease") {
  OperatorFacts f = healthy();
  (*f.deployment.object)["status"]["readyReplicas"] = 1;
  CHECK(link(operator_status(f), "replicas").state == LinkState::Fail);
  f = healthy();
  f.deployment = {std::nullopt, ""};
  CHECK(link(operator_status(f), "replicas").fix.find("kubectl apply -k") != std::string::npos);
  f = healthy();
  (*f.leader_lease.object)["spec"]["renewTime"] = kube::format_micro_time(kNow - 60s);
  CHECK(link(operator_status(f), "leader").detail.find("expired") != std::string::npos);
}

TEST_CASE("an expired serving certificate or CA; an unreadable Secret is not checked") {
  OperatorFacts f = healthy();
  f.now = kNow + 800h;
  Report r = operator_status(f);
  CHECK(link(r, "servingCertificate").state == LinkState::Fail);
  CHECK(link(r, "ca").state == LinkState::Pass);
  f.now = kNow + 9000h;
  CHECK(link(operator_status(f), "ca").state == LinkState::Fail);
  f = healthy();
  f.serving_secret = {std::nullopt, "not allowed to read it (your RBAC): secrets is forbidden"};
  r = operator_status(f);
  CHECK(link(r, "servingCertificate").state == LinkState::NotChecked);
  CHECK_FALSE(all_hold(r));
}

TEST_CASE("a replica serving a certificate of a CA the caBundle does not hold") {
  OperatorFacts f = healthy();
  const auto other = wh::create_ca("other-ca", kNow - 1h, 8760h);
  (*f.replica_reports.object)["items"][1] = report("gtoken-operator-b", other.cert_pem, kNow - 5s);
  Report r = operator_status(f);
  CHECK(link(r, "caBundle").state == LinkState::Fail);
  CHECK(link(r, "caBundle").detail.find("gtoken-operator-b serves") != std::string::npos);
  // Without a webhook configuration there is nothing to compare with.
  OperatorFacts none = f;
  none.mutating_config = {std::nullopt, ""};
  none.validating_config = {std::nullopt, ""};
  r = operator_status(none);
  CHECK(link(r, "caBundle").state == LinkState::NotChecked);
  CHECK(link(r, "ca").state == LinkState::Fail);
  // A long-gone replica's report does not count.
  (*f.replica_reports.object)["items"][1] = report("gtoken-operator-b", other.cert_pem, kNow - 1h);
  CHECK(link(operator_status(f), "caBundle").state == LinkState::Pass);
}

TEST_CASE("bindings by their Ready reason") {
  OperatorFacts f = healthy();
  (*f.bindings.object)["items"].push_back(
      {{"metadata", {{"name", "b"}, {"namespace", "evil"}}},
       {"status",
        {{"conditions", {{{"type", "Ready"}, {"status", "False"}, {"reason", "NotAllowed"}}}}}}});
  (*f.bindings.object)["items"].push_back({{"metadata", {{"name", "c"}, {"namespace", "new"}}}});
  const Link l = link(operator_status(f), "bindings");
  CHECK(l.state == LinkState::Fail);
  CHECK(l.detail == "1/3 Ready; NotAllowed: evil/b; NotReconciled: new/c");
}
