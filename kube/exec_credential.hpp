#pragma once
// kubeconfig `users[].user.exec`: a credential plugin (GKE's
// gke-gcloud-auth-plugin, aws eks get-token, kubelogin) that prints an
// ExecCredential (client.authentication.k8s.io/v1 or v1beta1) with a bearer
// token or a client certificate. Run non-interactively: stdin is
// /dev/null, KUBERNETES_EXEC_INFO says interactive false.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kube {

struct ExecConfig {
  std::string command;  // looked up in PATH; a relative path with a '/' is the kubeconfig's
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  std::string api_version;  // client.authentication.k8s.io/v1 or /v1beta1
  std::string where;        // "kubeconfig PATH: users[NAME].user.exec", for messages
};

struct ExecCredential {
  std::string token;
  std::string client_certificate_pem;
  std::string client_key_pem;
  // Unset: valid until the apiserver says 401.
  std::optional<std::chrono::system_clock::time_point> expires;
};

// Parses the plugin's stdout. Throws ConfigError (naming c.where) when it is
// not an ExecCredential of c.api_version with a token or a certificate and
// key. Never quotes the output (it holds the credential).
ExecCredential parse_exec_credential(std::string_view stdout_text, const ExecConfig& c);

// Runs the plugin and parses what it prints; ConfigError with its exit code
// and stderr when it fails.
ExecCredential run_exec_credential(const ExecConfig& c,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace kube
