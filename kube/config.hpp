#pragma once
// Where the apiserver is and how to authenticate: kubeconfig files and
// in-cluster service account config.

#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "kube/exec_credential.hpp"
#include "kube/http.hpp"

namespace kube {

// A kubeconfig or in-cluster file that cannot be used. The message names the
// file and the field.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClusterConfig {
  std::string server;      // https://host:port
  std::string namespace_;  // default namespace ("default" if unset)
  TlsOptions tls;          // CA, client cert/key (PEM contents, not paths)
  std::string token;       // static bearer token
  std::string token_file;  // re-read on every request when set (rotation)
  std::string source;      // "kubeconfig:/path (context X)" or "in-cluster"
  // users[].user.exec: run by http_options (not by the parse), again when
  // its credential expires or the apiserver answers 401.
  std::optional<ExecConfig> exec;
};

// Parses kubeconfig YAML. `path` is used for error messages and to resolve
// relative file references. `context` empty = current-context.
ClusterConfig parse_kubeconfig(const std::string& yaml_text, const std::filesystem::path& path,
                               const std::string& context = "");
ClusterConfig load_kubeconfig(const std::filesystem::path& path, const std::string& context = "");

struct InClusterPaths {
  std::filesystem::path dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};
// Reads KUBERNETES_SERVICE_HOST/PORT from `getenv` and the mounted files.
ClusterConfig load_in_cluster(const InClusterPaths& p = {},
                              const std::function<const char*(const char*)>& getenv = ::getenv);

// Resolution order: explicit path, $KUBECONFIG (first existing entry),
// in-cluster (when KUBERNETES_SERVICE_HOST is set), ~/.kube/config. With
// `in_cluster_last` (kubectl's order, for tools acting as their caller),
// ~/.kube/config comes before in-cluster.
ClusterConfig load_default_config(const std::string& explicit_path = "",
                                  const std::string& context = "", bool in_cluster_last = false);

// HttpOptions for the config (bearer token callback re-reads token_file).
// With an exec plugin, runs it once here (a client certificate it returns
// goes into tls; ConfigError when it fails), and again for a token that
// expires within 10 s or after a 401.
HttpOptions http_options(const ClusterConfig& c);

}  // namespace kube
