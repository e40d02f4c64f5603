#pragma once
// Identifies a REST collection (group/version/plural) and builds its paths.

#include <string>

namespace kube {

// Which rule an object name of a resource follows (kube/names.hpp).
enum class NameRule {
  Subdomain,    // DNS-1123 subdomain: most kinds, custom resources
  Label,        // DNS-1123 label: namespaces
  PathSegment,  // anything the apiserver accepts in a path (no '/', '%', "." or ".."),
                // percent-encoded: e.g. RBAC "system:..." names
};

struct Resource {
  std::string group;     // "" for the core group
  std::string version;   // "v1"
  std::string plural;    // "configmaps"
  bool namespaced = true;
  std::string kind;      // "ConfigMap" (used for apply bodies)
  NameRule name_rule = NameRule::Subdomain;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // /api/v1/namespaces/NS/configmaps[/NAME[/SUB]]; ns "" = all namespaces,
  // name "" = the collection (a subresource needs a name). The namespace
  // must be a DNS-1123 label, the name follow name_rule, the subresource be
  // one of the known ones (status, scale, token, eviction, binding, log,
  // finalize, approval, ephemeralcontainers, resize); otherwise throws
  // kube::InvalidName (kube/errors.hpp) before anything is sent. Every
  // segment is percent-encoded.
  std::string path(const std::string& ns = "", const std::string& name = "",
                   const std::string& subresource = "") const;
  // path() for one object: an empty name throws InvalidName instead of
  // addressing the collection (a DELETE there is a delete-collection).
  std::string object_path(const std::string& ns, const std::string& name,
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
