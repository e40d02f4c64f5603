#pragma once
// Identifies a REST collection (group/version/plural) and builds its paths.

#include <string>

namespace kube {

struct Resource {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string plural;    // "configmaps"
  bool namespaced = true;
  std::string kind;      // "ConfigMap" (used for apply bodies)

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // /api/v1/namespaces/NS/configmaps[/NAME[/SUB]]; ns "" = all namespaces.
  std::string path(const std::string& ns = "", const std::string& name = "",
                   const std::string& subresource = "") const;
};

namespace resources {
const Resource& config_maps();
const Resource& service_accounts();
const Resource& pods();
const Resource& secrets();
const Resource& namespaces();
const Resource& events();
const Resource& leases();
const Resource& mutating_webhook_configurations();
const Resource& aws_role_bindings();  // gtoken.io/v1alpha1 awsrolebindings
const Resource& aws_role_binding_policies();  // gtoken.io/v1alpha1, cluster-scoped
const Resource& validating_webhook_configurations();
}  // namespace resources

}  // namespace kube
