#include "plugin/operator_status.hpp"

#include <map>
#include <set>

#include "contract/gtoken.hpp"
#include "kube/base64.hpp"
#include "kube/time.hpp"
#include "plugin/facts.hpp"
#include "webhook/ca_bundles.hpp"
#include "webhook/certs.hpp"
#include "webhook/replica_report.hpp"

namespace gtoken::plugin {

namespace {

using nlohmann::json;

long long seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration_cast<std::chrono::seconds>(to - from).count();
}

std::string in_or_ago(TimePoint t, TimePoint now) {
  const long long s = seconds_between(now, t);
  auto span = [](long long v) {
    if (v >= 2 * 86400) return std::to_string(v / 86400) + " d";
    if (v >= 2 * 3600) return std::to_string(v / 3600) + " h";
    if (v >= 120) return std::to_string(v / 60) + " min";
    return std::to_string(v) + " s";
  };
  return s >= 0 ? "in " + span(s) : span(-s) + " ago";
}

// A read that failed: NotChecked with the reason; not found: Fail.
bool unreadable(Link& l, const Read& r, const std::string& what, const std::string& fix) {
  if (!r.error.empty()) {
    l.state = LinkState::NotChecked;
    l.detail = r.error;
    return true;
  }
  if (!r.object) {
    l.state = LinkState::Fail;
    l.detail = what + " not found";
    l.fix = fix;
    return true;
  }
  return false;
}

}  // namespace

Report operator_status(const OperatorFacts& f) {
  Report r{"operator " + f.namespace_, {}};
  const std::string install = "install it: kubectl apply -k config/default (docs/operations.md)";

  Link replicas{"replicas", "operator replicas ready", LinkState::Fail, "", ""};
  if (!unreadable(replicas, f.deployment, "Deployment gtoken-operator", install)) {
    const json& d = *f.deployment.object;
    const long long want = d.value("spec", json::object()).value("replicas", 1LL);
    const long long ready = d.value("status", json::object()).value("readyReplicas", 0LL);
    replicas.detail = std::to_string(ready) + "/" + std::to_string(want);
    if (ready >= 1 && ready >= want) {
      replicas.state = LinkState::Pass;
    } else {
      replicas.fix = "kubectl describe deployment gtoken-operator -n " + f.namespace_ +
                     "; kubectl logs -n " + f.namespace_ + " deployment/gtoken-operator";
    }
  }
  r.links.push_back(replicas);

  Link leader{"leader", "leader holds the Lease", LinkState::Fail, "", ""};
  if (!unreadable(leader, f.leader_lease, "Lease gtoken-operator",
                  "no replica ever led: check the operator's logs")) {
    const json spec = f.leader_lease.object->value("spec", json::object());
    const std::string holder = spec.value("holderIdentity", "");
    const auto renewed = kube::parse_rfc3339(spec.value("renewTime", ""));
    const long long duration = spec.value("leaseDurationSeconds", 15LL);
    if (holder.empty() || !renewed) {
      leader.detail = "no holder";
      leader.fix = "no replica leads, so no binding is reconciled: check the operator's logs";
    } else if (*renewed + std::chrono::seconds(duration) < f.now) {
      leader.detail = holder + ", renewed " + in_or_ago(*renewed, f.now) + " (expired)";
      leader.fix = "the leader is gone and none took over: check the replicas and their logs";
    } else {
      leader.state = LinkState::Pass;
      leader.detail = holder + ", renewed " + in_or_ago(*renewed, f.now);
    }
  }
  r.links.push_back(leader);

  Link serving{"servingCertificate", "serving certificate valid", LinkState::Fail, "", ""};
  if (!unreadable(serving, f.serving_secret, "Secret gtoken-webhook-cert",
                  "the leader writes it at start: check the operator's logs")) {
    const json data = f.serving_secret.object->value("data", json::object());
    const auto pem = kube::base64_decode(data.value("tls.crt", ""));
    const auto facts = pem ? webhook::inspect_certificate(*pem) : std::nullopt;
    if (!facts) {
      serving.detail = "tls.crt missing or not a certificate";
      serving.fix = "the leader writes it: check the operator's logs";
    } else if (facts->not_after <= f.now) {
      serving.detail = "expired " + in_or_ago(facts->not_after, f.now);
      serving.fix = "rotation is stuck: check the leader's logs (certificate errors)";
    } else {
      serving.state = LinkState::Pass;
      serving.detail = "expires " + in_or_ago(facts->not_after, f.now) + " (" +
                       kube::format_rfc3339(facts->not_after) + ")";
    }
  }
  r.links.push_back(serving);

  // The CAs the apiserver trusts for the webhook, and their fingerprints.
  Link ca{"ca", "CA in the webhook's caBundle valid", LinkState::Fail, "", ""};
  std::set<std::string> trusted;
  for (const auto* cfg : {&f.mutating_config, &f.validating_config}) {
    if (!cfg->object) {
      continue;
    }
    for (const auto& bundle : webhook::ca_bundles_of(*cfg->object)) {
      for (const auto& pem : bundle) {
        if (auto facts = webhook::inspect_certificate(pem)) {
          trusted.insert(facts->fingerprint);
        }
      }
    }
  }
  if (!unreadable(ca, f.mutating_config, "MutatingWebhookConfiguration " + f.config_name,
                  install)) {
    TimePoint latest{};
    int n = 0;
    for (const auto& bundle : webhook::ca_bundles_of(*f.mutating_config.object)) {
      for (const auto& pem : bundle) {
        if (auto facts = webhook::inspect_certificate(pem)) {
          ++n;
          latest = std::max(latest, facts->not_after);
        }
      }
    }
    if (n == 0) {
      ca.detail = "no caBundle";
      ca.fix = "the leader publishes it at start: check the operator's logs";
    } else if (latest <= f.now) {
      ca.detail = "every CA expired";
      ca.fix = "CA rotation is stuck: check the leader's logs";
    } else {
      ca.state = LinkState::Pass;
      ca.detail = std::to_string(n) + " CA" + (n == 1 ? "" : "s") + ", the newest expires " +
                  in_or_ago(latest, f.now);
    }
  }
  r.links.push_back(ca);

  Link match{"caBundle", "every replica serves a certificate of a trusted CA", LinkState::Fail, "",
             ""};
  if (!f.mutating_config.object && !f.validating_config.object) {
    match.state = LinkState::NotChecked;
    match.detail = "no webhook configuration named " + f.config_name + " to compare with";
  } else if (!unreadable(match, f.replica_reports, "replica reports", "")) {
    const auto reports = webhook::read_replica_reports(*f.replica_reports.object, f.now);
    std::vector<std::string> off;
    for (const auto& rep : reports.live) {
      if (!trusted.count(rep.serving_ca_fingerprint)) {
        off.push_back(rep.identity);
      }
    }
    if (reports.live.empty()) {
      match.detail = "no live replica reports what it serves";
      match.fix = "check that the replicas run (kubectl get pods -n " + f.namespace_ + ")";
    } else if (!off.empty()) {
      std::string names;
      for (const auto& o : off) {
        names += (names.empty() ? "" : ", ") + o;
      }
      match.detail = names + " serve" + (off.size() == 1 ? "s" : "") +
                     " a certificate of a CA the caBundle does not hold: the apiserver cannot "
                     "reach the webhook there";
      match.fix =
          "the leader republishes the caBundle within a minute; if it stays, check its "
          "logs, and who else writes the webhook configurations";
    } else {
      match.state = LinkState::Pass;
      match.detail = reports.live.size() == 1
                         ? std::string("the replica matches")
                         : "all " + std::to_string(reports.live.size()) + " replicas match";
    }
  }
  r.links.push_back(match);

  Link bindings{"bindings", "bindings Ready", LinkState::Fail, "", ""};
  if (!unreadable(bindings, f.bindings, "AwsRoleBinding list", "")) {
    std::map<std::string, std::vector<std::string>> by_reason;
    size_t ready = 0, total = 0;
    for (const auto& b : items_of(*f.bindings.object)) {
      ++total;
      const json c = condition(b, contract::kConditionReady);
      if (c.is_object() && c.value("status", "") == "True") {
        ++ready;
        continue;
      }
      by_reason[c.is_object() ? c.value("reason", "") : "NotReconciled"].push_back(
          text_at(b, "/metadata/namespace") + "/" + text_at(b, "/metadata/name"));
    }
    bindings.detail = std::to_string(ready) + "/" + std::to_string(total) + " Ready";
    for (const auto& [reason, names] : by_reason) {
      bindings.detail += "; " + reason + ": ";
      for (size_t i = 0; i < names.size() && i < 5; ++i) {
        bindings.detail += (i ? ", " : "") + names[i];
      }
      if (names.size() > 5) {
        bindings.detail += " and " + std::to_string(names.size() - 5) + " more";
      }
    }
    if (ready == total) {
      bindings.state = LinkState::Pass;
    } else {
      bindings.fix = "kubectl gtoken doctor binding NAME -n NS for each";
    }
  }
  r.links.push_back(bindings);
  return r;
}

}  // namespace gtoken::plugin
