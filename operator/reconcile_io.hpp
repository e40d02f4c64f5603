#pragma once
// The reconciler's IO, as small interfaces: the Kubernetes calls it makes
// (KubeIo; client_io() sends them through kube::Client, tests script them)
// and the three Google IAM calls (GoogleIo; google_io() over IamClient).
// Errors are the clients' own: kube::ApiError / kube::NetworkError,
// GoogleError.

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kube/client.hpp"
#include "kube/resource.hpp"

namespace gtoken {

class IamClient;

class KubeIo {
 public:
  virtual ~KubeIo() = default;
  // GET; nullopt when the apiserver answers 404 (other errors throw).
  virtual std::optional<nlohmann::json> get_opt(const kube::Resource& r, const std::string& ns,
                                                const std::string& name) = 0;
  virtual nlohmann::json create(const kube::Resource& r, const std::string& ns,
                                const nlohmann::json& obj) = 0;
  // Server-side apply, forced, under the client's field manager.
  virtual nlohmann::json apply(const kube::Resource& r, const std::string& ns,
                               const nlohmann::json& obj) = 0;
  virtual nlohmann::json patch(const kube::Resource& r, const std::string& ns,
                               const std::string& name, kube::PatchType type,
                               const nlohmann::json& body) = 0;
  virtual nlohmann::json remove(const kube::Resource& r, const std::string& ns,
                                const std::string& name, const kube::DeleteOptions& o) = 0;
  // PUT .../status; obj.metadata.resourceVersion guards it.
  virtual nlohmann::json update_status(const kube::Resource& r, const std::string& ns,
                                       const nlohmann::json& obj) = 0;
  virtual nlohmann::json list_all(const kube::Resource& r, const std::string& ns,
                                  const kube::ListOptions& o) = 0;
  // POST an events.k8s.io/v1 Event.
  virtual void event(const std::string& ns, const nlohmann::json& ev) = 0;
};

std::shared_ptr<KubeIo> client_io(std::shared_ptr<kube::Client> client);

struct GoogleIo {
  // GET projects/PROJECT/serviceAccounts/EMAIL ("-": any project).
  std::function<nlohmann::json(const std::string& email, const std::string& project)>
      get_service_account;
  std::function<nlohmann::json(const std::string& email)> get_iam_policy;
  std::function<nlohmann::json(const std::string& email, const nlohmann::json& policy)>
      set_iam_policy;
};

GoogleIo google_io(std::shared_ptr<IamClient> iam);

}  // namespace gtoken
