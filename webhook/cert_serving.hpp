#pragma once
// Serving (every replica): when the certificate Secret's serving bytes
// change, load them into the server (HttpsServer::set_certificate, which
// builds and checks a new TLS context and swaps it in), and remember what is
// served: its PEM (for readiness) and fingerprints (for the replica report).
// A Secret that does not load leaves the current certificate in place.

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "kube/clock.hpp"
#include "kube/log.hpp"
#include "webhook/replica_report.hpp"
#include "webhook/rotation.hpp"

namespace kube {
class Metrics;
}  // namespace kube

namespace gtoken::webhook {

// The fingerprints of `serving` and of the CA of `state` that verifies it at
// `now` (normally `ca`; next or retired only in odd states; "" if none).
// Pure.
ServedFingerprints served_fingerprints(const CertState& state, const CertKeyPem& serving,
                                       TimePoint now);

// Lists CertServing's metric families (reloads by result, the served
// certificates' notAfter) in `metrics`, once per process.
void describe_cert_serving_metrics(kube::Metrics& metrics);

class CertServing {
 public:
  // `load` installs a certificate + key and throws when they are unusable.
  CertServing(std::function<void(const CertKeyPem&)> load, std::shared_ptr<kube::Clock> clock,
              std::shared_ptr<kube::Metrics> metrics, kube::Logger* log);

  // Loads the Secret's serving certificate if its bytes differ from what is
  // served. True when a new certificate is now served.
  bool on_secret(const nlohmann::json& secret);

  std::string served_cert_pem() const;
  ServedFingerprints served() const;

 private:
  std::function<void(const CertKeyPem&)> load_;
  std::shared_ptr<kube::Clock> clock_;
  std::shared_ptr<kube::Metrics> metrics_;
  kube::Logger* log_;  // null: no log lines

  mutable std::mutex mu_;
  std::string cert_pem_;
  ServedFingerprints served_;
};

}  // namespace gtoken::webhook
