#include "operator/reconcile_io.hpp"

#include "kube/errors.hpp"
#include "operator/google.hpp"

namespace gtoken {

using json = nlohmann::json;

namespace {

class ClientIo final : public KubeIo {
 public:
  explicit ClientIo(std::shared_ptr<kube::Client> client) : client_(std::move(client)) {}

  std::optional<json> get_opt(const kube::Resource& r, const std::string& ns,
                              const std::string& name) override {
    try {
      return client_->get(r, ns, name);
    } catch (const kube::ApiError& e) {
      if (e.is_not_found()) return std::nullopt;
      throw;
    }
  }
  json create(const kube::Resource& r, const std::string& ns, const json& obj) override {
    return client_->create(r, ns, obj);
  }
  json apply(const kube::Resource& r, const std::string& ns, const json& obj) override {
    return client_->apply(r, ns, obj, /*force=*/true);
  }
  json patch(const kube::Resource& r, const std::string& ns, const std::string& name,
             kube::PatchType type, const json& body) override {
    return client_->patch(r, ns, name, type, body);
  }
  json remove(const kube::Resource& r, const std::string& ns, const std::string& name,
              const kube::DeleteOptions& o) override {
    return client_->remove(r, ns, name, o);
  }
  json update_status(const kube::Resource& r, const std::string& ns, const json& obj) override {
    return client_->update_status(r, ns, obj);
  }
  json list_all(const kube::Resource& r, const std::string& ns,
                const kube::ListOptions& o) override {
    return client_->list_all(r, ns, o);
  }
  void event(const std::string& ns, const json& ev) override {
    client_->create(kube::resources::events(), ns, ev);
  }

 private:
  std::shared_ptr<kube::Client> client_;
};

}  // namespace

std::shared_ptr<KubeIo> client_io(std::shared_ptr<kube::Client> client) {
  return std::make_shared<ClientIo>(std::move(client));
}

GoogleIo google_io(std::shared_ptr<IamClient> iam) {
  GoogleIo g;
  g.get_service_account = [iam](const std::string& email, const std::string& project) {
    return iam->get_service_account(email, project);
  };
  g.get_iam_policy = [iam](const std::string& email) { return iam->get_iam_policy(email); };
  g.set_iam_policy = [iam](const std::string& email, const json& policy) {
    return iam->set_iam_policy(email, policy);
  };
  return g;
}

}  // namespace gtoken
