#include "plugin/cli.hpp"

#include "kube/duration.hpp"

namespace gtoken::plugin {

CliParse parse_cli(const std::vector<std::string>& args) {
  CliOptions o;
  auto err = [](std::string e) { return CliParse{std::nullopt, std::move(e)}; };
  std::vector<std::string> words;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a.empty() || a[0] != '-' || a == "-") {
      words.push_back(a);
      continue;
    }
    std::string name = a;
    std::optional<std::string> value;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    auto take = [&]() -> std::optional<std::string> {
      if (value) {
        return value;
      }
      if (i + 1 >= args.size()) {
        return std::nullopt;
      }
      return args[++i];
    };
    struct Flag {
      const char* long_name;
      const char* short_name;
      std::string* target;
    };
    const Flag flags[] = {
        {"--namespace", "-n", &o.namespace_},
        {"--output", "-o", &o.output},
        {"--kubeconfig", nullptr, &o.kubeconfig},
        {"--context", nullptr, &o.context},
        {"--operator-namespace", nullptr, &o.operator_namespace},
        {"--webhook-config-name", nullptr, &o.webhook_config_name},
        {"--trust-policy", nullptr, &o.trust_policy_file},
        {"--sts-endpoint", nullptr, &o.sts_endpoint},
        {"--kubectl", nullptr, &o.kubectl},
        {"--request-timeout", nullptr, &o.request_timeout},
    };
    bool known = false;
    for (const auto& f : flags) {
      if (name == f.long_name || (f.short_name && name == f.short_name)) {
        auto v = take();
        if (!v || v->empty()) {
          return err("flag " + name + " needs a value");
        }
        *f.target = *v;
        known = true;
      }
    }
    if (known) {
      continue;
    }
    if (name == "--no-exec" && !value) {
      o.exec = false;
    } else if (name == "--sts" && !value) {
      o.sts = true;
    } else if ((name == "--help" || name == "-h") && !value) {
      o.command = Command::Help;
      return {o, {}};
    } else if (name == "--version" && !value) {
      o.command = Command::Version;
      return {o, {}};
    } else {
      return err("unknown flag " + name);
    }
  }

  if (words.empty() || words[0] == "help") {
    o.command = Command::Help;
    return {o, {}};
  }
  size_t want = 0;
  if (words[0] == "doctor") {
    if (words.size() < 2 || (words[1] != "pod" && words[1] != "binding")) {
      return err("doctor needs pod NAME or binding NAME");
    }
    o.command = words[1] == "pod" ? Command::DoctorPod : Command::DoctorBinding;
    want = 3;
  } else if (words[0] == "trust-policy") {
    o.command = Command::TrustPolicy;
    want = 2;
  } else if (words[0] == "status") {
    o.command = Command::Status;
    want = 1;
  } else if (words[0] == "version") {
    o.command = Command::Version;
    want = 1;
  } else {
    return err("unknown command \"" + words[0] + "\"");
  }
  if (words.size() != want) {
    return err(want == 1 ? words[0] + " takes no argument"
                         : "expected exactly one NAME after " + words[want - 2]);
  }
  if (want > 1) {
    o.name = words[want - 1];
  }
  const bool yaml_ok = o.command == Command::TrustPolicy;
  if (o.output != "text" && o.output != "json" && !(yaml_ok && o.output == "yaml")) {
    return err("-o " + o.output + ": expected text or json" +
               (yaml_ok ? std::string(" or yaml") : std::string()));
  }
  if (o.command == Command::TrustPolicy && o.output == "text") {
    o.output = "json";  // the policy to paste is JSON
  }
  if (o.webhook_config_name != "gtoken-webhook" && o.command != Command::Status) {
    return err("--webhook-config-name is for status");
  }
  if (!o.trust_policy_file.empty() && o.command != Command::DoctorPod) {
    return err("--trust-policy is for doctor pod");
  }
  if ((o.sts || !o.sts_endpoint.empty()) && o.command != Command::DoctorPod) {
    return err("--sts and --sts-endpoint are for doctor pod");
  }
  if (!o.sts_endpoint.empty() && !o.sts) {
    return err("--sts-endpoint needs --sts");
  }
  if (o.sts && !o.exec) {
    return err("--sts runs in the pod: it excludes --no-exec");
  }
  if (!o.sts_endpoint.empty() && o.sts_endpoint.rfind("https://", 0) != 0 &&
      o.sts_endpoint.rfind("http://", 0) != 0) {
    return err("--sts-endpoint " + o.sts_endpoint + ": expected an https:// or http:// URL");
  }
  if (auto d = kube::parse_duration(o.request_timeout); !d || d->count() <= 0) {
    return err("--request-timeout " + o.request_timeout + ": not a positive duration");
  }
  return {o, {}};
}

std::string cli_usage() {
  return R"(kubectl gtoken: diagnose gtoken with your own kubeconfig and RBAC

usage:
  kubectl gtoken doctor pod NAME [-n NS] [--trust-policy FILE] [--no-exec]
                            [--sts [--sts-endpoint URL]]
  kubectl gtoken doctor binding NAME [-n NS]
  kubectl gtoken trust-policy NAME [-n NS] [-o json|yaml]
  kubectl gtoken status [--operator-namespace gtoken-system] [--webhook-config-name gtoken-webhook]

doctor prints one line per link of the chain (pass, fail with the fix); the
exit code is 0 only when every link holds (1: some does not, 2: bad usage or
the apiserver could not be asked).

flags:
  -n, --namespace NS        default: the context's namespace
  -o, --output FORMAT       text (default), json
  --kubeconfig PATH         default: $KUBECONFIG, then ~/.kube/config
  --context NAME            default: the current context
  --operator-namespace NS   where gtoken-operator runs (default gtoken-system)
  --webhook-config-name N   status: the webhook configurations' name, the operator's
                            --webhook-config-name (default gtoken-webhook)
  --trust-policy FILE       doctor pod: judge the claims against this policy (the
                            role's, from aws iam get-role) instead of the binding's
  --no-exec                 doctor pod: do not read the token's claims in the pod
  --sts                     doctor pod: also a real AssumeRoleWithWebIdentity from inside
                            the pod (the agent's probe --sts), reporting the assumed role
                            or AWS's exact error; never the credentials
  --sts-endpoint URL        doctor pod --sts: ask this STS instead of the one the app
                            container's env names (docs/plugin.md gives the order)
  --kubectl PATH            the kubectl that runs `kubectl exec` (default: kubectl)
  --request-timeout DUR     per apiserver request (default 10s)
)";
}

}  // namespace gtoken::plugin
