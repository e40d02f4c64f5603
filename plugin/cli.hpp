#pragma once
// The command line of kubectl-gtoken (`kubectl gtoken ...`). Pure: parsing
// only; main.cpp runs what it says.

#include <optional>
#include <string>
#include <vector>

namespace gtoken::plugin {

enum class Command { DoctorPod, DoctorBinding, TrustPolicy, Status, Help, Version };

struct CliOptions {
  Command command = Command::Help;
  std::string name;             // the pod or binding
  std::string namespace_;       // -n; "" = the context's namespace
  std::string output = "text";  // text | json (| yaml for trust-policy)
  std::string kubeconfig;       // --kubeconfig; "" = KUBECONFIG, then ~/.kube/config
  std::string context;          // --context; "" = current-context
  std::string operator_namespace = "gtoken-system";
  // status: the operator's --webhook-config-name (both configurations' name)
  std::string webhook_config_name = "gtoken-webhook";
  std::string trust_policy_file;    // doctor pod --trust-policy FILE
  bool exec = true;                 // doctor pod: read the claims in the pod (--no-exec: not)
  bool sts = false;                 // doctor pod --sts: AssumeRoleWithWebIdentity in the pod
  std::string sts_endpoint;         // --sts-endpoint URL; "" = what the pod's env names
  std::string kubectl = "kubectl";  // what runs kubectl exec (--kubectl PATH)
  std::string request_timeout = "10s";
};

struct CliParse {
  std::optional<CliOptions> options;
  std::string error;
};

// args excludes argv[0].
CliParse parse_cli(const std::vector<std::string>& args);

std::string cli_usage();

}  // namespace gtoken::plugin
