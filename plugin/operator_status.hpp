#pragma once
// `kubectl gtoken status`: the operator as the caller can see it, judged
// from what was read (pure): replicas ready, a leader holding the Lease,
// the serving certificate and the CA not expired, every live replica serving
// a certificate of a CA the webhook configurations' caBundle holds, and the
// bindings by their Ready condition.

#include <nlohmann/json.hpp>
#include <string>

#include "plugin/link.hpp"
#include "plugin/pod_doctor.hpp"

namespace gtoken::plugin {

struct OperatorFacts {
  std::string namespace_;  // the operator's namespace
  Read deployment;         // apps/v1 Deployment gtoken-operator
  Read leader_lease;       // coordination.k8s.io/v1 Lease gtoken-operator
  Read replica_reports;    // LeaseList labelled gtoken.io/webhook-replica
  Read serving_secret;     // Secret gtoken-webhook-cert (tls.crt read, nothing else)
  std::string config_name = "gtoken-webhook";  // the webhook configurations' name
  Read mutating_config;                        // MutatingWebhookConfiguration config_name
  Read validating_config;                      // ValidatingWebhookConfiguration config_name
  Read bindings;                               // AwsRoleBindingList, all namespaces
  TimePoint now{};
};

Report operator_status(const OperatorFacts& facts);

}  // namespace gtoken::plugin
