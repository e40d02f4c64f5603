#include "kube/resource.hpp"

namespace kube {

std::string Resource::path(const std::string& ns, const std::string& name,
                           const std::string& subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + plural;
  if (!name.empty()) {
    p += "/" + name;
    if (!subresource.empty()) p += "/" + subresource;
  }
  return p;
}

namespace resources {
const Resource& config_maps() {
  static const Resource r{"", "v1", "configmaps", true, "ConfigMap"};
  return r;
}
const Resource& service_accounts() {
  static const Resource r{"", "v1", "serviceaccounts", true, "ServiceAccount"};
  return r;
}
const Resource& pods() {
  static const Resource r{"", "v1", "pods", true, "Pod"};
  return r;
}
const Resource& secrets() {
  static const Resource r{"", "v1", "secrets", true, "Secret"};
  return r;
}
const Resource& namespaces() {
  static const Resource r{"", "v1", "namespaces", false, "Namespace"};
  return r;
}
const Resource& events() {
  static const Resource r{"events.k8s.io", "v1", "events", true, "Event"};
  return r;
}
const Resource& leases() {
  static const Resource r{"coordination.k8s.io", "v1", "leases", true, "Lease"};
  return r;
}
const Resource& mutating_webhook_configurations() {
  static const Resource r{"admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
                          false, "MutatingWebhookConfiguration"};
  return r;
}
const Resource& aws_role_bindings() {
  static const Resource r{"gtoken.io", "v1alpha1", "awsrolebindings", true, "AwsRoleBinding"};
  return r;
}
const Resource& aws_role_binding_policies() {
  static const Resource r{"gtoken.io", "v1alpha1", "awsrolebindingpolicies", false,
                          "AwsRoleBindingPolicy"};
  return r;
}
const Resource& validating_webhook_configurations() {
  static const Resource r{"admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
                          false, "ValidatingWebhookConfiguration"};
  return r;
}
}  // namespace resources

}  // namespace kube
