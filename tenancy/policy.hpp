#pragma once
// AwsRoleBindingPolicy: which namespaces may bind which Google service
// accounts, AWS roles and audiences. Cluster-scoped, written by cluster
// administrators only. Pure: parsing and evaluation, no I/O, so the
// controller and the admission webhook decide with the same code.
//
// Deny by default: a binding is allowed only when one policy allows all of
// its namespace, GSA, role and audience (policies combine as a union). Two
// refusals no policy can lift: the operator's own GSA, and a GSA outside the
// Workload Identity project unless a policy names that project explicitly.

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kube/label_selector.hpp"

namespace gtoken::tenancy {

struct Policy {
  std::string name;
  std::vector<std::string> namespace_names;
  std::optional<kube::LabelSelector> namespace_selector;
  // Exact emails or globs ('*' matches any run of characters), e.g.
  // "*@my-project.iam.gserviceaccount.com".
  std::vector<std::string> gcp_service_accounts;
  // Role ARN globs, or 12-digit account ids (any role of that account).
  std::vector<std::string> aws_roles;
  // Audience globs; empty: only the operator's default audience.
  std::vector<std::string> audiences;
  // A GSA this policy allows may be bound from one namespace only: the
  // namespace of the oldest binding that names it.
  bool exclusive = false;
  // The token sources (AwsRoleBinding.spec.tokenSource) it allows; a policy
  // that names none allows Google only, what every policy meant before
  // Kubernetes-issued tokens existed.
  std::vector<std::string> token_sources = {"Google"};
  // spec.trustPolicy: Apply lets the operator (run with
  // --aws-trust-policy=apply) write gtoken's statement into the trust
  // policies of the roles this policy allows; Verify (the default) only
  // lets it read them.
  bool apply_trust = false;
};

// Parses an AwsRoleBindingPolicy object; nullopt with `error` set when it is
// unusable (the CRD's schema makes that rare: a policy that cannot be read
// allows nothing).
std::optional<Policy> parse_policy(const nlohmann::json& obj, std::string& error);

// What a binding asks for.
struct Request {
  std::string namespace_;
  std::string name;
  std::string gcp_service_account;
  std::string aws_role_arn;
  std::string audience;           // effective (the default applied)
  std::string creation_timestamp; // RFC 3339; "" for a binding not created yet
  bool kubernetes = false;        // spec.tokenSource: Kubernetes (no GSA)
};

struct Settings {
  std::string project;           // Workload Identity project (PROJECT.svc.id.goog)
  std::string operator_gsa;      // refused always; "" when unknown
  std::string default_audience;  // allowed when a policy lists no audiences
  // The cluster's ServiceAccount token issuer ("" unknown): refused as a
  // Kubernetes-source audience always, since the apiserver's default API
  // audience is its issuer: such a token is a credential for this cluster
  // and must never go to AWS.
  std::string oidc_issuer = {};
};

enum class Denial {
  None,
  Namespace,
  GcpServiceAccount,
  OperatorServiceAccount,
  Project,
  TokenSource,
  AwsRole,
  Audience,
  Exclusive,
};

struct Verdict {
  bool allowed = false;
  Denial denial = Denial::None;
  // Says which of namespace / GSA / role / audience no policy allows (or who
  // holds an exclusive GSA): shown in the binding's condition, its Event and
  // the admission answer.
  std::string message;
  std::vector<std::string> allowed_by;  // policy names, when allowed
  // Some policy that allows the binding says trustPolicy: Apply.
  bool apply_trust = false;
};

// `namespace_labels` are the binding namespace's labels (null when the
// namespace is unknown: only policies listing it by name can match).
// `others` are the other bindings that name the same GSA (for exclusivity;
// may include this one, which is ignored).
Verdict evaluate(const Request& request, const std::vector<Policy>& policies,
                 const nlohmann::json& namespace_labels, const Settings& settings,
                 const std::vector<Request>& others = {});

// The Request of an AwsRoleBinding object (full or as the controller's
// cache keeps it); `default_audience` applies when spec.audience is unset
// on a Google-source binding (Kubernetes: sts.amazonaws.com).
Request request_from_binding(const nlohmann::json& binding, const std::string& default_audience);

// '*' glob match (no other metacharacters).
bool glob_match(std::string_view pattern, std::string_view text);

// The project of NAME@PROJECT.iam.gserviceaccount.com; "" for other forms.
std::string project_of(std::string_view email);

}  // namespace gtoken::tenancy
