#include "kube/resource.hpp"

#include "kube/errors.hpp"
#include "kube/names.hpp"

namespace kube {

namespace {

bool is_known_subresource(const std::string& s) {
  static constexpr const char* known[] = {"status",   "scale",    "token",
                                          "eviction", "binding",  "log",
                                          "finalize", "approval", "ephemeralcontainers",
                                          "resize"};
  for (const char* k : known) {
    if (s == k) return true;
  }
  return false;
}

void check_name(NameRule rule, const std::string& name) {
  switch (rule) {
    case NameRule::Subdomain:
      if (!is_dns1123_subdomain(name)) {
        throw InvalidName("name", name,
                          "must be a DNS-1123 subdomain (lowercase a-z, 0-9, '-' and '.', "
                          "at most 253 characters)");
      }
      return;
    case NameRule::Label:
      if (!is_dns1123_label(name)) {
        throw InvalidName("name", name,
                          "must be a DNS-1123 label (lowercase a-z, 0-9 and '-', at most 63 "
                          "characters)");
      }
      return;
    case NameRule::PathSegment:
      if (!is_path_segment_name(name)) {
        throw InvalidName("name", name, "may not be empty, \".\" or \"..\", or contain '/' or '%'");
      }
      return;
  }
}

// group/version/plural come from code or from a CRD; check them anyway so
// that no input reaches a path unchecked.
void check_resource(const Resource& r) {
  if (!r.group.empty() && !is_dns1123_subdomain(r.group)) {
    throw InvalidName("resource group", r.group, "must be a DNS-1123 subdomain");
  }
  if (!is_dns1123_label(r.version)) {
    throw InvalidName("resource version", r.version, "must be a DNS-1123 label");
  }
  if (!is_dns1123_label(r.plural)) {
    throw InvalidName("resource plural", r.plural, "must be a DNS-1123 label");
  }
}

}  // namespace

std::string Resource::path(const std::string& ns, const std::string& name,
                           const std::string& subresource) const {
  check_resource(*this);
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) {
    if (!is_dns1123_label(ns)) {
      throw InvalidName("namespace", ns,
                        "must be a DNS-1123 label (lowercase a-z, 0-9 and '-', at most 63 "
                        "characters)");
    }
    p += "/namespaces/";
    p += encode_path_segment(ns);
  }
  // Appended piece by piece: `"/" + s` makes GCC 12 at -O3 warn falsely
  // (-Wrestrict, GCC bug 105329), which -Werror turns into a build failure.
  p += '/';
  p += plural;
  if (name.empty()) {
    if (!subresource.empty()) {
      throw InvalidName("name", name,
                        "is required with subresource \"" + quote_untrusted(subresource) + "\"");
    }
    return p;
  }
  check_name(name_rule, name);
  p += '/';
  p += encode_path_segment(name);
  if (!subresource.empty()) {
    if (!is_known_subresource(subresource)) {
      throw InvalidName("subresource", subresource, "is not a known subresource");
    }
    p += '/';
    p += subresource;
  }
  return p;
}

std::string Resource::object_path(const std::string& ns, const std::string& name,
                                  const std::string& subresource) const {
  if (name.empty()) throw InvalidName("name", name, "may not be empty");
  return path(ns, name, subresource);
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
  static const Resource r{"", "v1", "namespaces", false, "Namespace", NameRule::Label};
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
