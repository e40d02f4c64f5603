#pragma once
// The certificate manager: the wiring of the four certificate jobs, driven by
// one kube::Controller (one worker, a work queue on the injected clock).
//
// Informers (every replica): the certificate Secret, the
// MutatingWebhookConfiguration and the ValidatingWebhookConfiguration of
// that name, each watched by name through the API (no kubelet volume sync).
//
// The jobs, each in its own unit:
//   serving    (webhook/cert_serving)   a changed Secret is loaded into the
//              server at once, from the informer's callback;
//   readiness  (webhook/cert_readiness) pure; recomputed on every Secret or
//              configuration change and by the key "readiness" every 2 s
//              (certificates also expire without an event);
//   report     (webhook/replica_report) this replica's Lease, key "report":
//              renewed every third of its duration and at once after a swap;
//   leader     (webhook/cert_leader)    key "plan": plans and writes the
//              Secret and caBundle when is_leader(); only with manage.
// Failures are retried by the queue's rate limiter (200 ms doubling, 2 s cap).

#include <functional>
#include <memory>
#include <string>

#include "kube/clock.hpp"
#include "kube/log.hpp"
#include "webhook/rotation.hpp"

namespace kube {
class Client;
class Metrics;
}  // namespace kube

namespace gtoken::webhook {

struct CertManagerOptions {
  std::string secret_name;
  std::string secret_namespace;  // the operator's namespace
  // The MutatingWebhookConfiguration, and the ValidatingWebhookConfiguration
  // of the same name when it exists: both get the same caBundle.
  std::string config_name;
  RotationPolicy policy;
  bool manage = true;
  std::string identity;
  std::chrono::seconds replica_lease_duration{30};
};

class CertManager {
 public:
  // `load` installs a serving certificate + key (HttpsServer::set_certificate)
  // and throws when they are unusable.
  CertManager(CertManagerOptions options, std::shared_ptr<kube::Client> client,
              std::shared_ptr<kube::Metrics> metrics, std::function<bool()> is_leader,
              std::function<void(const CertKeyPem&)> load, kube::Logger* log,
              std::shared_ptr<kube::Clock> clock = kube::system_clock());
  ~CertManager();
  CertManager(const CertManager&) = delete;
  CertManager& operator=(const CertManager&) = delete;

  void start();
  // Stops the informers and the controller; deletes this replica's Lease.
  void stop();

  // This replica became (or stopped being) the leader: plan at once rather
  // than at the follower's next 2 s check, so a new leader renews a
  // certificate its dead predecessor left close to expiry without delay.
  void leadership_changed();

  // "" when a certificate is loaded and every webhook of the configuration,
  // as stored in the apiserver, has a caBundle that verifies it; else why not.
  std::string not_ready_reason() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace gtoken::webhook
