#pragma once
// The IO around the rotation planner (webhook/rotation.hpp).
//
// Every replica: watches the certificate Secret through the API (an informer
// on that one name) and swaps the server's TLS context when the served bytes
// change, no restart and no kubelet volume sync; watches the
// MutatingWebhookConfiguration (one name; and the ValidatingWebhookConfiguration
// of that name, when it exists) to know whether the apiserver can verify what
// it serves (readiness); and reports the CA of the certificate it
// serves in a Lease of its own ("gtoken-webhook-<hash of identity>", label
// gtoken.io/webhook-replica), renewed every third of its duration.
//
// The leader (is_leader() before every write): plans from the two caches and
// the live replica Leases, then writes the Secret (optimistic concurrency on
// resourceVersion) and then the configuration's caBundle, in that order, so a
// CA is never published without its key being stored. It also puts caBundle
// back when someone overwrites it, and deletes replica Leases long expired.

#include <functional>
#include <memory>
#include <string>

#include "webhook/options.hpp"
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
              std::function<void(const CertKeyPem&)> load, Logger log);
  ~CertManager();
  CertManager(const CertManager&) = delete;
  CertManager& operator=(const CertManager&) = delete;

  void start();
  // Stops the informers and the loop; deletes this replica's Lease.
  void stop();

  // "" when a certificate is loaded and every webhook of the configuration,
  // as stored in the apiserver, has a caBundle that verifies it; else why not.
  std::string not_ready_reason() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Lease name of a replica's report: DNS-safe whatever the identity.
std::string replica_lease_name(const std::string& identity);

}  // namespace gtoken::webhook
