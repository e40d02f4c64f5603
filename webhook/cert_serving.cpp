#include "webhook/cert_serving.hpp"

#include "kube/metrics.hpp"

namespace gtoken::webhook {

using nlohmann::json;

namespace {

constexpr kube::MetricFamily kReloads{"gtoken_webhook_certificate_reloads_total",
                                      kube::MetricType::counter,
                                      "serving certificates loaded from the Secret, by result"};
constexpr kube::MetricFamily kExpiry{
    "gtoken_webhook_certificate_expiry_timestamp_seconds", kube::MetricType::gauge,
    "notAfter of the served certificate and of the CA that signed it (Unix seconds)"};

double unix_seconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The CA of `state` that verifies `cert_pem` at `now`, or null.
const std::string* serving_ca(const CertState& state, const std::string& cert_pem, TimePoint now) {
  for (const std::string* ca : {state.ca ? &state.ca->cert_pem : nullptr,
                                state.next_ca ? &state.next_ca->cert_pem : nullptr,
                                state.retired_ca ? &*state.retired_ca : nullptr}) {
    if (ca && certificate_verifies(cert_pem, *ca, now)) return ca;
  }
  return nullptr;
}

}  // namespace

void describe_cert_serving_metrics(kube::Metrics& metrics) {
  metrics.describe(kReloads);
  metrics.describe(kExpiry);
}

ServedFingerprints served_fingerprints(const CertState& state, const CertKeyPem& serving,
                                       TimePoint now) {
  ServedFingerprints out;
  if (const auto facts = inspect_certificate(serving.cert_pem)) out.cert = facts->fingerprint;
  if (const std::string* ca = serving_ca(state, serving.cert_pem, now)) {
    if (const auto facts = inspect_certificate(*ca)) out.ca = facts->fingerprint;
  }
  return out;
}

CertServing::CertServing(std::function<void(const CertKeyPem&)> load,
                         std::shared_ptr<kube::Clock> clock, std::shared_ptr<kube::Metrics> metrics,
                         kube::Logger* log)
    : load_(std::move(load)), clock_(std::move(clock)), metrics_(std::move(metrics)), log_(log) {}

bool CertServing::on_secret(const json& secret) {
  const CertState state = cert_state_from_secret(secret);
  if (!state.serving) {
    if (log_)
      log_->log(kube::LogLevel::debug, "certificate Secret holds no serving certificate yet",
                json::object());
    return false;
  }
  {
    std::lock_guard lock(mu_);
    if (state.serving->cert_pem == cert_pem_) return false;  // bytes unchanged
  }
  try {
    load_(*state.serving);
  } catch (const std::exception& e) {
    metrics_->inc(kReloads, {{"result", "error"}});
    if (log_) {
      log_->log(kube::LogLevel::warn,
                "cannot serve the certificate from the Secret; keeping the current one",
                {{"secret", secret.value("metadata", json::object()).value("name", "")},
                 {"error", e.what()}});
    }
    return false;
  }
  const TimePoint now = clock_->now();
  const ServedFingerprints served = served_fingerprints(state, *state.serving, now);
  {
    std::lock_guard lock(mu_);
    cert_pem_ = state.serving->cert_pem;
    served_ = served;
  }
  metrics_->inc(kReloads, {{"result", "ok"}});
  const auto facts = inspect_certificate(state.serving->cert_pem);
  if (facts) {
    metrics_->set(kExpiry, unix_seconds(facts->not_after), {{"certificate", "serving"}});
  }
  if (const std::string* ca = serving_ca(state, state.serving->cert_pem, now)) {
    if (const auto ca_facts = inspect_certificate(*ca)) {
      metrics_->set(kExpiry, unix_seconds(ca_facts->not_after), {{"certificate", "ca"}});
    }
  }
  if (log_) {
    log_->log(kube::LogLevel::info, "serving certificate loaded",
              {{"fingerprint", served.cert.substr(0, 16)},
               {"notAfter", facts ? format_time(facts->not_after) : ""},
               {"caFingerprint", served.ca.substr(0, 16)}});
  }
  return true;
}

std::string CertServing::served_cert_pem() const {
  std::lock_guard lock(mu_);
  return cert_pem_;
}

ServedFingerprints CertServing::served() const {
  std::lock_guard lock(mu_);
  return served_;
}

}  // namespace gtoken::webhook
