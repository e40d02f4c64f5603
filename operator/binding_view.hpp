#pragma once
// A typed view of an AwsRoleBinding as read: the metadata the controller
// decides on, the spec's names, and the status it recorded, with every
// status.appliedTargets entry validated before anything may build a request
// from it. Pure: no IO, no logging (the caller reports `dropped`).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gtoken {

// One setup the controller made for a binding.
struct Target {
  std::string ksa;
  std::string gsa;  // "" for the Kubernetes token source
  std::string role_arn;
  std::string project;  // "" for the Kubernetes token source
  bool created_sa = false;
  // ServiceAccount annotations that already held the wanted value when
  // gtoken came (set by hand): cleanup leaves them as found.
  std::vector<std::string> preexisting;
  // contract::kTokenSourceKubernetes, or "" for Google (so targets recorded
  // before the field existed read back unchanged).
  std::string source = {};
  bool same_as(const Target& o) const {
    return ksa == o.ksa && gsa == o.gsa && role_arn == o.role_arn && project == o.project &&
           source == o.source;
  }
  nlohmann::json to_json() const;
  static Target from_json(const nlohmann::json& j);
  // Every name in it is one gtoken could have written (status can be edited
  // by anyone with access to the status subresource): a target failing this
  // is never used to build a request.
  bool valid() const;
  bool kubernetes() const { return !source.empty(); }
};

// NAME@DOMAIN with the characters Google allows in a service account email.
bool valid_gsa_email(const std::string& email);

struct BindingView {
  nlohmann::json object;  // the binding as read (status writes start from it)
  std::string ns;
  std::string name;
  std::string uid;
  int64_t generation = 0;
  bool deleting = false;        // metadata.deletionTimestamp is set
  bool has_finalizer = false;   // carries gtoken.io/cleanup
  nlohmann::json spec;          // an object ({} when missing)
  std::string ksa;              // spec.serviceAccountName
  std::string gsa;              // spec.gcpServiceAccount
  std::string role_arn;         // spec.awsRoleArn
  std::string audience;         // spec.audience or the source's default
  bool kubernetes = false;      // spec.tokenSource is Kubernetes
  nlohmann::json status;        // an object ({} when missing)
  nlohmann::json conditions;    // status.conditions (an array)
  std::vector<Target> applied;  // the valid entries of status.appliedTargets, in order
  std::vector<Target> dropped;  // entries that are not something gtoken wrote
  int pods_missing_injection = 0;
};

// `default_audience` is the Google source's (--default-audience); the
// Kubernetes source's is contract::kKubernetesDefaultAudience.
BindingView view_binding(nlohmann::json binding, const std::string& default_audience);

// The effective audience of a binding's spec.
std::string binding_audience(const nlohmann::json& spec, const std::string& default_audience);
bool kubernetes_source(const nlohmann::json& spec);

// Valid entries of status.appliedTargets; the others go to `dropped` (may be null).
std::vector<Target> applied_targets(const nlohmann::json& status, std::vector<Target>* dropped);

std::string describe(const Target& t);

}  // namespace gtoken
