#include "webhook/cert_client.hpp"

#include "kube/client.hpp"
#include "kube/errors.hpp"

namespace gtoken::webhook {

using nlohmann::json;

namespace {

class KubeCertClient final : public CertClient {
 public:
  KubeCertClient(std::shared_ptr<kube::Client> client, std::string ns)
      : client_(std::move(client)), ns_(std::move(ns)) {}

  json create_secret(const json& secret) override {
    return client_->create(kube::resources::secrets(), ns_, secret);
  }
  json update_secret(const json& secret) override {
    return client_->update(kube::resources::secrets(), ns_, secret);
  }
  json update_config(WebhookConfigKind kind, const json& config) override {
    return client_->update(kind == WebhookConfigKind::Mutating
                               ? kube::resources::mutating_webhook_configurations()
                               : kube::resources::validating_webhook_configurations(),
                           "", config);
  }
  std::optional<json> get_lease(const std::string& name) override {
    try {
      return client_->get(kube::resources::leases(), ns_, name);
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) return std::nullopt;
      throw;
    }
  }
  json create_lease(const json& lease) override {
    return client_->create(kube::resources::leases(), ns_, lease);
  }
  json update_lease(const json& lease) override {
    return client_->update(kube::resources::leases(), ns_, lease);
  }
  json list_leases(const std::string& label_selector) override {
    kube::ListOptions lo;
    lo.label_selector = label_selector;
    return client_->list(kube::resources::leases(), ns_, lo);
  }
  void delete_lease(const std::string& name) override {
    client_->remove(kube::resources::leases(), ns_, name);
  }

 private:
  std::shared_ptr<kube::Client> client_;
  std::string ns_;
};

}  // namespace

std::shared_ptr<CertClient> make_cert_client(std::shared_ptr<kube::Client> client, std::string ns) {
  return std::make_shared<KubeCertClient>(std::move(client), std::move(ns));
}

}  // namespace gtoken::webhook
