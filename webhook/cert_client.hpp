#pragma once
// The few API calls of the certificate manager's jobs, as an interface, so
// they are unit-tested against a scripted fake. Errors are kube::ApiError
// (409 = someone wrote in between, 404 = not found) or any other exception
// for transport failures.

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kube {
class Client;
}  // namespace kube

namespace gtoken::webhook {

enum class WebhookConfigKind { Mutating, Validating };

class CertClient {
 public:
  virtual ~CertClient() = default;

  // The certificate Secret (in the operator's namespace). Each returns the
  // object as stored (its new resourceVersion).
  virtual nlohmann::json create_secret(const nlohmann::json& secret) = 0;
  virtual nlohmann::json update_secret(const nlohmann::json& secret) = 0;
  // A Mutating or Validating WebhookConfiguration (cluster-scoped).
  virtual nlohmann::json update_config(WebhookConfigKind kind, const nlohmann::json& config) = 0;

  // Replica report Leases (in the operator's namespace). get: nullopt on 404.
  virtual std::optional<nlohmann::json> get_lease(const std::string& name) = 0;
  virtual nlohmann::json create_lease(const nlohmann::json& lease) = 0;
  virtual nlohmann::json update_lease(const nlohmann::json& lease) = 0;
  // Every Lease carrying `label_selector`.
  virtual nlohmann::json list_leases(const std::string& label_selector) = 0;
  virtual void delete_lease(const std::string& name) = 0;
};

// The real one: kube::Client against the apiserver, in namespace `ns`.
std::shared_ptr<CertClient> make_cert_client(std::shared_ptr<kube::Client> client, std::string ns);

}  // namespace gtoken::webhook
