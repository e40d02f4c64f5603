// kubectl-gtoken: `kubectl gtoken doctor|trust-policy|status` (docs/plugin.md).
// Everything worth testing is in gtoken_plugin_core; this file reads the
// kubeconfig, asks the apiserver and prints.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "kube/config.hpp"
#include "kube/duration.hpp"
#include "kube/errors.hpp"
#include "plugin/cli.hpp"
#include "plugin/facts.hpp"
#include "plugin/gather.hpp"
#include "plugin/render.hpp"
#include "plugin/yaml_out.hpp"

#ifndef GTOKEN_VERSION
#define GTOKEN_VERSION "dev"
#endif

namespace {

using namespace gtoken::plugin;
using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitBroken = 1;
constexpr int kExitUsage = 2;

bool colour_wanted() {
  const char* no_colour = std::getenv("NO_COLOR");  // NOLINT(concurrency-mt-unsafe)
  const char* term = std::getenv("TERM");           // NOLINT(concurrency-mt-unsafe)
  return ::isatty(STDOUT_FILENO) && !(no_colour && *no_colour) &&
         !(term && std::string(term) == "dumb");
}

int print(const Report& r, const CliOptions& o) {
  if (o.output == "json") {
    std::cout << render_json(r).dump(2) << "\n";
  } else {
    std::cout << render_text(r, colour_wanted());
  }
  return all_hold(r) ? kExitOk : kExitBroken;
}

// The object; else a message, and *code is 1 when it does not exist, 2 when
// it could not be read.
std::optional<json> must_get(kube::Client& client, const kube::Resource& res, const std::string& ns,
                             const std::string& name, const std::string& what, int* code) {
  Read r = read_object(client, res, ns, name);
  if (r.object) {
    return r.object;
  }
  std::cerr << "kubectl-gtoken: " << what << " " << ns << "/" << name << ": "
            << (r.error.empty() ? "not found" : r.error) << "\n";
  *code = r.error.empty() ? kExitBroken : kExitUsage;
  return std::nullopt;
}

int run(const CliOptions& o) {
  // kubectl's order: the caller's own ~/.kube/config wins over a pod's
  // ServiceAccount when run inside a cluster (the caller's RBAC, never a workload's).
  kube::ClusterConfig cfg = kube::load_default_config(o.kubeconfig, o.context, true);
  kube::HttpOptions http = kube::http_options(cfg);
  http.request_timeout = *kube::parse_duration(o.request_timeout);
  http.user_agent = std::string("kubectl-gtoken/") + GTOKEN_VERSION;
  kube::Client client(std::make_shared<kube::HttpClient>(http));
  const std::string ns = o.namespace_.empty() ? cfg.namespace_ : o.namespace_;
  int code = kExitOk;

  switch (o.command) {
    case Command::DoctorPod: {
      auto pod = must_get(client, kube::resources::pods(), ns, o.name, "pod", &code);
      if (!pod) {
        return code;
      }
      return print(diagnose_pod(gather_pod(client, o, ns, *pod)), o);
    }
    case Command::DoctorBinding: {
      auto b = must_get(client, kube::resources::aws_role_bindings(), ns, o.name, "AwsRoleBinding",
                        &code);
      if (!b) {
        return code;
      }
      return print(diagnose_binding(gather_binding(client, ns, *b)), o);
    }
    case Command::TrustPolicy: {
      auto b = must_get(client, kube::resources::aws_role_bindings(), ns, o.name, "AwsRoleBinding",
                        &code);
      if (!b) {
        return code;
      }
      const std::string text = text_at(*b, "/status/awsTrustPolicy");
      const json policy = json::parse(text, nullptr, false);
      if (text.empty() || !policy.is_object()) {
        const json ready = condition(*b, "Ready");
        std::cerr << "kubectl-gtoken: binding " << ns << "/" << o.name << " has no trust policy yet"
                  << (ready.is_object() ? " (Ready " + ready.value("reason", "") + ": " +
                                              ready.value("message", "") + ")"
                                        : std::string())
                  << "\n";
        return kExitBroken;
      }
      std::cout << (o.output == "yaml" ? to_yaml(policy) : policy.dump(2) + "\n");
      return kExitOk;
    }
    case Command::Status:
      return print(operator_status(gather_operator(client, o)), o);
    case Command::Help:
    case Command::Version:
      break;
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  CliParse p = parse_cli(args);
  if (!p.options) {
    std::cerr << "kubectl-gtoken: " << p.error << "\n\n" << cli_usage();
    return kExitUsage;
  }
  if (p.options->command == Command::Help) {
    std::cout << cli_usage();
    return kExitOk;
  }
  if (p.options->command == Command::Version) {
    std::cout << "kubectl-gtoken " << GTOKEN_VERSION << "\n";
    return kExitOk;
  }
  try {
    return run(*p.options);
  } catch (const kube::ConfigError& e) {
    std::cerr << "kubectl-gtoken: " << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "kubectl-gtoken: " << e.what() << "\n";
  }
  return kExitUsage;
}
