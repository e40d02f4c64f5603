#include "plugin/gather.hpp"

#include <fstream>

#include "kube/errors.hpp"
#include "plugin/facts.hpp"
#include "webhook/replica_report.hpp"
#include "webhook/settings.hpp"

namespace gtoken::plugin {

namespace {

using nlohmann::json;

const kube::Resource& deployments() {
  static const kube::Resource r{"apps", "v1", "deployments", true, "Deployment"};
  return r;
}

std::string refusal(const kube::ApiError& e) {
  return (e.is_forbidden() ? std::string("not allowed to read it (your RBAC): ")
                           : "the apiserver answered " + std::to_string(e.code()) + ": ") +
         e.status().message;
}

template <typename F>
Read guarded(F&& f) {
  try {
    return {f(), ""};
  } catch (const kube::ApiError& e) {
    if (e.is_not_found()) {
      return {std::nullopt, ""};
    }
    return {std::nullopt, refusal(e)};
  } catch (const kube::NetworkError& e) {
    return {std::nullopt, std::string("no answer from the apiserver: ") + e.what()};
  } catch (const std::invalid_argument& e) {
    return {std::nullopt, e.what()};
  }
}

}  // namespace

Read read_object(kube::Client& client, const kube::Resource& r, const std::string& ns,
                 const std::string& name) {
  return guarded([&] { return client.get(r, ns, name); });
}

Read read_list(kube::Client& client, const kube::Resource& r, const std::string& ns,
               const kube::ListOptions& o) {
  return guarded([&] { return client.list_all(r, ns, o); });
}

std::vector<std::string> kubectl_exec_argv(const CliOptions& o, const std::string& ns,
                                           const std::string& pod, const AgentExec& exec) {
  std::vector<std::string> argv = {o.kubectl};
  if (!o.kubeconfig.empty()) {
    argv.push_back("--kubeconfig=" + o.kubeconfig);
  }
  if (!o.context.empty()) {
    argv.push_back("--context=" + o.context);
  }
  for (const std::string& a : {std::string("exec"), "--namespace=" + ns, pod,
                               "--container=" + exec.container, std::string("--")}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), exec.argv.begin(), exec.argv.end());
  return argv;
}

PodFacts gather_pod(kube::Client& client, const CliOptions& o, const std::string& ns,
                    const json& pod) {
  PodFacts f;
  f.pod = pod;
  f.now = std::chrono::system_clock::now();
  f.operator_namespace = o.operator_namespace;
  f.namespace_ = read_object(client, kube::resources::namespaces(), "", ns);
  std::string ksa = text_at(pod, "/spec/serviceAccountName");
  f.service_account =
      read_object(client, kube::resources::service_accounts(), ns, ksa.empty() ? "default" : ksa);
  f.bindings = read_list(client, kube::resources::aws_role_bindings(), ns);
  f.policies = read_list(client, kube::resources::aws_role_binding_policies(), "");
  if (!o.trust_policy_file.empty()) {
    std::ifstream in(o.trust_policy_file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto j = json::parse(text, nullptr, false);
    if (!in || !j.is_object()) {
      throw std::invalid_argument("--trust-policy " + o.trust_policy_file +
                                  ": not a readable JSON object");
    }
    f.trust_policy = std::move(j);
  }
  if (o.exec) {
    if (auto exec = agent_exec(pod)) {
      f.claims = kube::run_captured(kubectl_exec_argv(o, ns, text_at(pod, "/metadata/name"), *exec),
                                    std::chrono::seconds(30));
    }
  }
  f.sts_asked = o.sts;
  if (o.sts && f.service_account.object) {
    const std::string role =
        webhook::settings_from_service_account(*f.service_account.object).role_arn;
    StsEndpoint at = o.sts_endpoint.empty() ? sts_endpoint_for(pod)
                                            : StsEndpoint{o.sts_endpoint, "--sts-endpoint"};
    f.sts_endpoint = at.url;
    f.sts_endpoint_from = at.from;
    if (webhook::is_valid_role_arn(role)) {
      if (auto exec = sts_exec(pod, role, at.url)) {
        f.sts = kube::run_captured(kubectl_exec_argv(o, ns, text_at(pod, "/metadata/name"), *exec),
                                   std::chrono::seconds(30));
      }
    }
  }
  return f;
}

BindingFacts gather_binding(kube::Client& client, const std::string& ns, const json& binding) {
  BindingFacts f;
  f.binding = binding;
  f.namespace_ = read_object(client, kube::resources::namespaces(), "", ns);
  f.policies = read_list(client, kube::resources::aws_role_binding_policies(), "");
  f.service_account = read_object(client, kube::resources::service_accounts(), ns,
                                  text_at(binding, "/spec/serviceAccountName"));
  return f;
}

OperatorFacts gather_operator(kube::Client& client, const CliOptions& o) {
  OperatorFacts f;
  const std::string& ns = o.operator_namespace;
  f.namespace_ = ns;
  f.now = std::chrono::system_clock::now();
  f.deployment = read_object(client, deployments(), ns, "gtoken-operator");
  f.leader_lease = read_object(client, kube::resources::leases(), ns, "gtoken-operator");
  kube::ListOptions reports;
  reports.label_selector = webhook::kReplicaLabel;
  f.replica_reports = read_list(client, kube::resources::leases(), ns, reports);
  f.serving_secret = read_object(client, kube::resources::secrets(), ns, "gtoken-webhook-cert");
  // Only the certificate is kept: the Secret also holds the private keys.
  if (f.serving_secret.object) {
    const json data = f.serving_secret.object->value("data", json::object());
    f.serving_secret.object = json{{"data", {{"tls.crt", data.value("tls.crt", "")}}}};
  }
  f.config_name = o.webhook_config_name;
  f.mutating_config = read_object(client, kube::resources::mutating_webhook_configurations(), "",
                                  o.webhook_config_name);
  f.validating_config = read_object(client, kube::resources::validating_webhook_configurations(),
                                    "", o.webhook_config_name);
  f.bindings = read_list(client, kube::resources::aws_role_bindings(), "");
  return f;
}

}  // namespace gtoken::plugin
