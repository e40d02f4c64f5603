#pragma once

#include "kube/time.hpp"
// The certificate rotation planner: a pure function from what the Secret
// holds, what the webhook configuration's caBundle holds, what each replica
// serves, and the time, to the next actions. The IO around it (reading the
// Secret and the configuration, writing them on the leader) is in
// webhook/cert_leader.cpp.
//
// Protocol (docs/webhook.md, "Certificates"):
//   1. No usable CA: create one, issue a serving certificate, publish the CA.
//   2. Serving certificate near its end (lookahead), not signed by the CA, or
//      for other names: issue a new one from the same CA. No caBundle change.
//   3. CA near its end: create the next CA and publish it *beside* the current
//      one. Once the configuration as stored holds it, note when
//      (next_ca_published_at); after publish_delay (time for every apiserver
//      to load the new caBundle) promote it: it signs a new serving
//      certificate, and the old CA is kept in caBundle as `retired`.
//   4. Remove the retired CA once every live replica reports serving a
//      certificate of the current CA, and no sooner than retire_grace after
//      the promotion (a replica that has not reported yet).
// The bundle is set to exactly {ca, next_ca, retired} whenever it differs,
// which also puts it back after someone overwrote it.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "webhook/certs.hpp"

namespace gtoken::webhook {

// What the certificate Secret holds, decoded.
struct CertState {
  std::optional<CertKeyPem> ca;           // signs the serving certificate
  std::optional<CertKeyPem> next_ca;      // published beside `ca`, not signing yet
  std::optional<std::string> retired_ca;  // the previous CA (certificate only)
  std::optional<CertKeyPem> serving;
  // When the stored caBundle was first seen holding next_ca.
  std::optional<TimePoint> next_ca_published_at;
  // When `ca` began signing (the promotion that made `retired_ca` retired).
  std::optional<TimePoint> ca_promoted_at;
  bool operator==(const CertState&) const = default;
};

struct RotationPolicy {
  std::string ca_common_name = "gtoken-webhook-ca";
  // Names, IPs and validity of the serving certificate.
  ServingCertRequest serving;
  std::chrono::seconds ca_validity{std::chrono::hours(24 * 365)};
  // Rotate this long before the end.
  std::chrono::seconds ca_lookahead{std::chrono::hours(24 * 30)};
  std::chrono::seconds cert_lookahead{std::chrono::hours(24 * 7)};
  // How long every apiserver may take to load a changed caBundle.
  std::chrono::seconds publish_delay{10};
  // Least time the old CA stays published after the promotion.
  std::chrono::seconds retire_grace{60};
};

// Why a policy cannot work (lookaheads not shorter than validities, a CA
// lookahead too short to publish, promote and retire before the CA ends, bad
// names), or nullopt.
std::optional<std::string> validate_policy(const RotationPolicy& policy);

// One live replica's report: the CA that signed the certificate it serves
// ("" = none loaded yet; such a replica does not hold a retirement back).
struct ReplicaReport {
  std::string identity;
  std::string serving_ca_fingerprint;
};

struct RotationInput {
  CertState state;
  // The certificates of the stored configuration's caBundle (PEM, any
  // order); nullopt when the configuration does not exist.
  std::optional<std::vector<std::string>> ca_bundle;
  std::vector<ReplicaReport> replicas;
  TimePoint now{};
};

enum class RotationAction {
  CreateCa,              // a new CA replaces an unusable one (next and retired dropped)
  IssueServingCert,      // a serving certificate from `ca`
  CreateNextCa,          // a new CA as next_ca (publication not yet noted)
  PublishCaBundle,       // set caBundle to desired_ca_bundle(state)
  MarkNextCaPublished,   // next_ca_published_at := now
  ClearNextCaPublished,  // the stored caBundle lost next_ca: publish again, wait again
  PromoteNextCa,         // retired := ca, ca := next_ca, ca_promoted_at := now
  RetireOldCa,           // retired := none
};

std::string_view to_string(RotationAction action) noexcept;

struct RotationPlan {
  // In order; the Secret actions are applied with apply_rotation,
  // PublishCaBundle with the state they leave.
  std::vector<RotationAction> actions;
  std::vector<std::string> reasons;  // one line per action, for logs
  // Plan again no later than this (now when there are actions).
  TimePoint next_check{};
  // True when the retired CA only waits for replicas to report.
  bool waiting_for_replicas = false;
};

RotationPlan plan_rotation(const RotationInput& input, const RotationPolicy& policy);

// Applies one action other than PublishCaBundle. Creates keys (OpenSSL's
// CSPRNG); throws CertError when the state cannot take the action.
CertState apply_rotation(CertState state, RotationAction action, const RotationPolicy& policy,
                         TimePoint now);

// The CA certificates caBundle must hold for `state`: ca, next_ca, retired.
std::vector<std::string> desired_ca_bundle(const CertState& state);
std::string join_pem(const std::vector<std::string>& certificates);
// Same set of certificates, whatever the order and PEM formatting.
bool same_certificates(const std::vector<std::string>& a, const std::vector<std::string>& b);

// --- the Secret ---
// Keys: tls.crt, tls.key (type kubernetes.io/tls), ca.crt (the CA that signed
// tls.crt), ca.key, and during a CA rotation next-ca.crt, next-ca.key,
// retired-ca.crt. Times in annotations.
inline constexpr std::string_view kNextCaPublishedAtAnnotation = "gtoken.io/next-ca-published-at";
inline constexpr std::string_view kCaPromotedAtAnnotation = "gtoken.io/ca-promoted-at";

// Missing or undecodable keys read as absent.
CertState cert_state_from_secret(const nlohmann::json& secret);
// The whole Secret for `state`; keeps metadata (resourceVersion, labels,
// other annotations) of `existing` when given.
nlohmann::json cert_secret(const std::string& name, const std::string& ns, const CertState& state,
                           const nlohmann::json& existing = nullptr);

// "2026-01-02T15:04:05Z" (the project's one RFC 3339 implementation).
inline std::string format_time(TimePoint t) { return kube::format_rfc3339(t); }
inline std::optional<TimePoint> parse_time(std::string_view text) {
  return kube::parse_rfc3339(text);
}

}  // namespace gtoken::webhook
