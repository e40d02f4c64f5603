#include "webhook/rotation.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "webhook/base64.hpp"

namespace gtoken::webhook {

using nlohmann::json;
using std::chrono::seconds;

namespace {

// Facts of a usable certificate (and key, when one is given).
std::optional<CertFacts> usable(const std::optional<CertKeyPem>& pair) {
  if (!pair) return std::nullopt;
  auto facts = inspect_certificate(pair->cert_pem);
  if (!facts || !key_matches_certificate(pair->cert_pem, pair->key_pem)) return std::nullopt;
  return facts;
}

std::string canonical_ip(const std::string& ip) {
  unsigned char buf[16];
  char text[INET6_ADDRSTRLEN] = {0};
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1 && inet_ntop(AF_INET, buf, text, sizeof text)) {
    return text;
  }
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, text, sizeof text)) {
    return text;
  }
  return ip;
}

std::vector<std::string> sorted_ips(const std::vector<std::string>& ips) {
  std::vector<std::string> out;
  for (const auto& ip : ips) out.push_back(canonical_ip(ip));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> lower_sorted(std::vector<std::string> names) {
  for (auto& n : names) {
    for (char& c : n) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::set<std::string> fingerprints(const std::vector<std::string>& certificates) {
  std::set<std::string> out;
  for (const auto& pem : certificates) {
    for (const auto& one : split_certificates(pem)) {
      if (auto facts = inspect_certificate(one)) out.insert(facts->fingerprint);
    }
  }
  return out;
}

bool bundle_holds(const std::optional<std::vector<std::string>>& bundle, const std::string& pem) {
  if (!bundle) return false;
  const auto facts = inspect_certificate(pem);
  return facts && fingerprints(*bundle).count(facts->fingerprint) > 0;
}

// A certificate that lives longer than the configured validity (the setting
// was shortened) is replaced, through the usual steps.
constexpr std::chrono::seconds kLifetimeSlack{60};

class Planner {
 public:
  Planner(const RotationInput& in, const RotationPolicy& policy) : in_(in), policy_(policy) {
    next_check_ = in.now + std::chrono::hours(1);
  }

  RotationPlan run() {
    const CertState& s = in_.state;
    const auto ca = usable(s.ca);
    const bool ca_dead = !ca || !ca->is_ca || in_.now >= ca->not_after;
    bool retired_present = s.retired_ca.has_value();

    if (ca_dead) {
      // Nothing signs: any change is better than none. A valid next CA is
      // probably published already; otherwise start over.
      const auto next = usable(s.next_ca);
      if (next && next->is_ca && in_.now < next->not_after) {
        add(RotationAction::PromoteNextCa, "the CA is missing or expired; promoting the next CA");
        retired_present = true;
      } else {
        add(RotationAction::CreateCa, s.ca ? "the CA is unusable or expired" : "no CA yet");
        retired_present = false;
      }
      add(RotationAction::IssueServingCert, "serving certificate for the new CA");
      add(RotationAction::PublishCaBundle, "publish the new CA");
      return finish();
    }

    // Promotion first: it brings its own serving certificate.
    plan_next_ca(*ca, retired_present);
    if (!promoted_) plan_serving();
    if (retired_present && !promoted_) plan_retired(*ca);

    // Publish whenever the stored bundle is not exactly what the state wants
    // (or the state is about to change it).
    const bool bundle_changes =
        has(RotationAction::CreateNextCa) || has(RotationAction::RetireOldCa);
    if (!in_.ca_bundle) {
      reasons_note_ = "webhook configuration not found";
    } else if (bundle_changes ||
               fingerprints(*in_.ca_bundle) != fingerprints(desired_ca_bundle(in_.state))) {
      add(RotationAction::PublishCaBundle, "caBundle differs from the CAs in the Secret");
    }
    return finish();
  }

 private:
  void plan_serving() {
    const CertState& s = in_.state;
    const auto serving = usable(s.serving);
    std::string why;
    if (!serving) {
      why = s.serving ? "serving certificate unusable" : "no serving certificate yet";
    } else if (!certificate_verifies(s.serving->cert_pem, s.ca->cert_pem, in_.now)) {
      why = "serving certificate not valid under the current CA";
    } else if (lower_sorted(serving->dns_names) != lower_sorted(policy_.serving.dns_names) ||
               sorted_ips(serving->ip_addresses) != sorted_ips(policy_.serving.ip_addresses)) {
      why = "serving certificate names differ from the configured ones";
    } else if (in_.now >= serving->not_after - policy_.cert_lookahead) {
      why = "serving certificate expires soon";
    } else if (serving->not_after > in_.now + policy_.serving.validity + kLifetimeSlack) {
      why = "serving certificate outlives the configured validity";
    } else {
      consider(serving->not_after - policy_.cert_lookahead);
      return;
    }
    add(RotationAction::IssueServingCert, why);
  }

  void plan_next_ca(const CertFacts& ca, bool retired_present) {
    const CertState& s = in_.state;
    const TimePoint rotate_at = ca.not_after - policy_.ca_lookahead;
    if (!s.next_ca) {
      if (in_.now >= rotate_at) {
        add(RotationAction::CreateNextCa, "CA expires soon; publishing the next CA beside it");
      } else if (ca.not_after > in_.now + policy_.ca_validity + kLifetimeSlack) {
        add(RotationAction::CreateNextCa, "CA outlives the configured validity; rotating it");
      } else {
        consider(rotate_at);
      }
      return;
    }
    const auto next = usable(s.next_ca);
    if (!next || !next->is_ca || in_.now >= next->not_after) {
      add(RotationAction::CreateNextCa, "next CA unusable; replacing it");
      return;
    }
    if (!bundle_holds(in_.ca_bundle, s.next_ca->cert_pem)) {
      // Not (or no longer) in the stored bundle: publish, then wait again.
      if (s.next_ca_published_at) {
        add(RotationAction::ClearNextCaPublished, "caBundle lost the next CA");
      }
      return;
    }
    if (!s.next_ca_published_at) {
      add(RotationAction::MarkNextCaPublished, "caBundle holds the next CA");
      consider(in_.now + policy_.publish_delay);
      return;
    }
    const TimePoint promote_at = *s.next_ca_published_at + policy_.publish_delay;
    if (in_.now < promote_at) {
      consider(promote_at);
      return;
    }
    if (retired_present && in_.now < ca.not_after - policy_.cert_lookahead) {
      // One rotation at a time: the previous retired CA goes first.
      return;
    }
    add(RotationAction::PromoteNextCa, "next CA published for the publish delay; switching to it");
    promoted_ = true;
    add(RotationAction::IssueServingCert, "serving certificate of the new CA");
  }

  void plan_retired(const CertFacts& ca) {
    const CertState& s = in_.state;
    const auto retired = inspect_certificate(*s.retired_ca);
    if (!retired || in_.now >= retired->not_after) {
      add(RotationAction::RetireOldCa, "retired CA expired");
      return;
    }
    consider(retired->not_after);
    if (s.ca_promoted_at && in_.now < *s.ca_promoted_at + policy_.retire_grace) {
      consider(*s.ca_promoted_at + policy_.retire_grace);
      return;
    }
    std::vector<std::string> behind;
    for (const auto& r : in_.replicas) {
      if (!r.serving_ca_fingerprint.empty() && r.serving_ca_fingerprint != ca.fingerprint) {
        behind.push_back(r.identity);
      }
    }
    if (!behind.empty()) {
      waiting_for_replicas_ = true;
      consider(in_.now + seconds(1));
      return;
    }
    add(RotationAction::RetireOldCa, "every replica serves a certificate of the current CA");
  }

  void add(RotationAction action, std::string reason) {
    actions_.push_back(action);
    reasons_.push_back(std::string(to_string(action)) + ": " + reason);
  }
  bool has(RotationAction action) const {
    return std::find(actions_.begin(), actions_.end(), action) != actions_.end();
  }
  void consider(TimePoint t) { next_check_ = std::min(next_check_, std::max(t, in_.now)); }

  RotationPlan finish() {
    RotationPlan plan;
    plan.actions = std::move(actions_);
    plan.reasons = std::move(reasons_);
    if (!reasons_note_.empty() && plan.actions.empty()) plan.reasons.push_back(reasons_note_);
    plan.next_check = plan.actions.empty() ? next_check_ : in_.now;
    plan.waiting_for_replicas = waiting_for_replicas_;
    return plan;
  }

  const RotationInput& in_;
  const RotationPolicy& policy_;
  std::vector<RotationAction> actions_;
  std::vector<std::string> reasons_;
  std::string reasons_note_;
  TimePoint next_check_;
  bool promoted_ = false;
  bool waiting_for_replicas_ = false;
};

std::optional<std::string> data_key(const json& data, const char* key) {
  const auto it = data.find(key);
  if (it == data.end() || !it->is_string()) return std::nullopt;
  auto decoded = base64_decode(it->get_ref<const std::string&>());
  if (!decoded || decoded->empty()) return std::nullopt;
  return decoded;
}

std::optional<CertKeyPem> pair_from(const json& data, const char* cert, const char* key) {
  auto c = data_key(data, cert);
  auto k = data_key(data, key);
  if (!c || !k) return std::nullopt;
  return CertKeyPem{std::move(*c), std::move(*k)};
}

}  // namespace

std::string_view to_string(RotationAction action) noexcept {
  switch (action) {
    case RotationAction::CreateCa:
      return "CreateCa";
    case RotationAction::IssueServingCert:
      return "IssueServingCert";
    case RotationAction::CreateNextCa:
      return "CreateNextCa";
    case RotationAction::PublishCaBundle:
      return "PublishCaBundle";
    case RotationAction::MarkNextCaPublished:
      return "MarkNextCaPublished";
    case RotationAction::ClearNextCaPublished:
      return "ClearNextCaPublished";
    case RotationAction::PromoteNextCa:
      return "PromoteNextCa";
    case RotationAction::RetireOldCa:
      return "RetireOldCa";
  }
  return "Unknown";
}

std::optional<std::string> validate_policy(const RotationPolicy& p) {
  if (p.serving.dns_names.empty()) return "the serving certificate needs at least one DNS name";
  for (const auto& name : p.serving.dns_names) {
    if (!is_valid_dns_name(name)) return "invalid DNS name: " + name;
  }
  for (const auto& ip : p.serving.ip_addresses) {
    if (!is_valid_ip_address(ip)) return "invalid IP address: " + ip;
  }
  if (p.cert_lookahead.count() <= 0 || p.serving.validity <= p.cert_lookahead) {
    return "the certificate lookahead must be positive and shorter than the certificate validity";
  }
  if (p.ca_lookahead.count() <= 0 || p.ca_validity <= p.ca_lookahead) {
    return "the CA lookahead must be positive and shorter than the CA validity";
  }
  if (p.publish_delay.count() < 0 || p.retire_grace.count() < 0) {
    return "the publish delay and retire grace must not be negative";
  }
  // Serving certificates are cut at their CA's end: the next CA must be
  // promoted before the last one of them reaches its lookahead, and the old
  // CA must outlive its grace period.
  if (p.ca_lookahead <= p.cert_lookahead + p.publish_delay) {
    return "the CA lookahead must exceed the certificate lookahead plus the publish delay";
  }
  if (p.ca_lookahead <= p.publish_delay + p.retire_grace) {
    return "the CA lookahead must exceed the publish delay plus the retire grace";
  }
  return std::nullopt;
}

RotationPlan plan_rotation(const RotationInput& input, const RotationPolicy& policy) {
  return Planner(input, policy).run();
}

CertState apply_rotation(CertState s, RotationAction action, const RotationPolicy& policy,
                         TimePoint now) {
  switch (action) {
    case RotationAction::CreateCa:
      s.ca = create_ca(policy.ca_common_name, now, policy.ca_validity);
      s.next_ca.reset();
      s.retired_ca.reset();
      s.serving.reset();
      s.next_ca_published_at.reset();
      s.ca_promoted_at = now;
      break;
    case RotationAction::IssueServingCert:
      if (!s.ca) throw CertError("no CA to issue from");
      s.serving = issue_serving_certificate(*s.ca, policy.serving, now);
      break;
    case RotationAction::CreateNextCa:
      s.next_ca = create_ca(policy.ca_common_name, now, policy.ca_validity);
      s.next_ca_published_at.reset();
      break;
    case RotationAction::PublishCaBundle:
      break;  // not a Secret change
    case RotationAction::MarkNextCaPublished:
      s.next_ca_published_at = now;
      break;
    case RotationAction::ClearNextCaPublished:
      s.next_ca_published_at.reset();
      break;
    case RotationAction::PromoteNextCa:
      if (!s.next_ca) throw CertError("no next CA to promote");
      if (s.ca) s.retired_ca = s.ca->cert_pem;
      s.ca = std::move(s.next_ca);
      s.next_ca.reset();
      s.next_ca_published_at.reset();
      s.ca_promoted_at = now;
      break;
    case RotationAction::RetireOldCa:
      s.retired_ca.reset();
      break;
  }
  return s;
}

std::vector<std::string> desired_ca_bundle(const CertState& s) {
  std::vector<std::string> out;
  auto add = [&](const std::string& pem) {
    for (auto& one : split_certificates(pem)) out.push_back(std::move(one));
  };
  if (s.ca) add(s.ca->cert_pem);
  if (s.next_ca) add(s.next_ca->cert_pem);
  if (s.retired_ca) add(*s.retired_ca);
  return out;
}

std::string join_pem(const std::vector<std::string>& certificates) {
  std::string out;
  for (const auto& pem : certificates) {
    out += pem;
    if (!pem.empty() && pem.back() != '\n') out += '\n';
  }
  return out;
}

bool same_certificates(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return fingerprints(a) == fingerprints(b);
}

CertState cert_state_from_secret(const json& secret) {
  CertState s;
  if (!secret.is_object()) return s;
  const auto data_it = secret.find("data");
  if (data_it != secret.end() && data_it->is_object()) {
    const json& data = *data_it;
    s.ca = pair_from(data, "ca.crt", "ca.key");
    s.next_ca = pair_from(data, "next-ca.crt", "next-ca.key");
    s.serving = pair_from(data, "tls.crt", "tls.key");
    s.retired_ca = data_key(data, "retired-ca.crt");
  }
  const auto metadata = secret.find("metadata");
  if (metadata != secret.end() && metadata->is_object()) {
    const auto annotations = metadata->find("annotations");
    if (annotations != metadata->end() && annotations->is_object()) {
      auto time_of = [&](std::string_view key) -> std::optional<TimePoint> {
        const auto it = annotations->find(std::string(key));
        if (it == annotations->end() || !it->is_string()) return std::nullopt;
        return parse_time(it->get_ref<const std::string&>());
      };
      s.next_ca_published_at = time_of(kNextCaPublishedAtAnnotation);
      s.ca_promoted_at = time_of(kCaPromotedAtAnnotation);
    }
  }
  return s;
}

json cert_secret(const std::string& name, const std::string& ns, const CertState& s,
                 const json& existing) {
  json secret = existing.is_object() ? existing : json::object();
  secret["apiVersion"] = "v1";
  secret["kind"] = "Secret";
  secret["type"] = "kubernetes.io/tls";
  json& metadata = secret["metadata"];
  if (!metadata.is_object()) metadata = json::object();
  metadata["name"] = name;
  metadata["namespace"] = ns;
  metadata.erase("managedFields");
  json& annotations = metadata["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  annotations.erase(std::string(kNextCaPublishedAtAnnotation));
  annotations.erase(std::string(kCaPromotedAtAnnotation));
  if (s.next_ca_published_at) {
    annotations[std::string(kNextCaPublishedAtAnnotation)] = format_time(*s.next_ca_published_at);
  }
  if (s.ca_promoted_at) {
    annotations[std::string(kCaPromotedAtAnnotation)] = format_time(*s.ca_promoted_at);
  }
  if (annotations.empty()) metadata.erase("annotations");

  // kubernetes.io/tls requires both keys; empty until a certificate exists.
  json data = {{"tls.crt", ""}, {"tls.key", ""}};
  if (s.serving) {
    data["tls.crt"] = base64_encode(s.serving->cert_pem);
    data["tls.key"] = base64_encode(s.serving->key_pem);
  }
  if (s.ca) {
    data["ca.crt"] = base64_encode(s.ca->cert_pem);
    data["ca.key"] = base64_encode(s.ca->key_pem);
  }
  if (s.next_ca) {
    data["next-ca.crt"] = base64_encode(s.next_ca->cert_pem);
    data["next-ca.key"] = base64_encode(s.next_ca->key_pem);
  }
  if (s.retired_ca) data["retired-ca.crt"] = base64_encode(*s.retired_ca);
  secret["data"] = std::move(data);
  secret.erase("stringData");
  return secret;
}


}  // namespace gtoken::webhook
