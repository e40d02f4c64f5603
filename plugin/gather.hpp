#pragma once
// The plugin's reads, with the caller's kubeconfig and RBAC: each check's
// facts gathered through kube::Client, and the one in-pod step through
// `kubectl exec` (a kubectl plugin may call kubectl; it brings the caller's
// exec credentials and the apiserver's streaming protocol). No writes.

#include <chrono>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "plugin/binding_doctor.hpp"
#include "plugin/cli.hpp"
#include "plugin/operator_status.hpp"
#include "plugin/pod_doctor.hpp"

namespace gtoken::plugin {

// GET of one object: found, not found, or why it could not be read (a
// refusal or an unreachable apiserver are facts to report, not crashes).
Read read_object(kube::Client& client, const kube::Resource& r, const std::string& ns,
                 const std::string& name);
Read read_list(kube::Client& client, const kube::Resource& r, const std::string& ns,
               const kube::ListOptions& o = {});

// `kubectl [--kubeconfig K] [--context C] exec -n NS POD -c CONTAINER -- ARGV...`
std::vector<std::string> kubectl_exec_argv(const CliOptions& o, const std::string& ns,
                                           const std::string& pod, const AgentExec& exec);

PodFacts gather_pod(kube::Client& client, const CliOptions& o, const std::string& ns,
                    const nlohmann::json& pod);
BindingFacts gather_binding(kube::Client& client, const std::string& ns,
                            const nlohmann::json& binding);
OperatorFacts gather_operator(kube::Client& client, const CliOptions& o);

}  // namespace gtoken::plugin
