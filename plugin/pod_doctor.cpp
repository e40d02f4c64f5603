#include "plugin/pod_doctor.hpp"

#include <algorithm>

#include "agent/options.hpp"
#include "agent/schedule.hpp"
#include "agent/sts_probe.hpp"
#include "aws/trust_evaluation.hpp"
#include "aws/web_identity.hpp"
#include "contract/gtoken.hpp"
#include "kube/clock.hpp"
#include "kube/time.hpp"
#include "plugin/binding_doctor.hpp"
#include "plugin/facts.hpp"
#include "webhook/config.hpp"
#include "webhook/mutate.hpp"
#include "webhook/settings.hpp"

namespace gtoken::plugin {

namespace {

using nlohmann::json;
namespace c = gtoken::contract;
using webhook::SkipReason;

enum Step {
  kNamespace,
  kServiceAccount,
  kPolicy,
  kBinding,
  kInjected,
  kAgent,
  kClaims,
  kTrust,
  kSts  // only with --sts
};

std::vector<Link> blank_links(const std::string& ns, const std::string& ksa) {
  return {
      {"namespace", "namespace " + ns + " not ignored", LinkState::NotChecked, "", ""},
      {"serviceAccount", "ServiceAccount " + ksa + " annotated", LinkState::NotChecked, "", ""},
      {"policy", "allowed by an AwsRoleBindingPolicy", LinkState::NotChecked, "", ""},
      {"binding", "binding Ready", LinkState::NotChecked, "", ""},
      {"injected", "pod injected", LinkState::NotChecked, "", ""},
      {"agent", "agent started", LinkState::NotChecked, "", ""},
      {"claims", "token claims (read in the pod)", LinkState::NotChecked, "", ""},
      {"trustPolicy", "claims accepted by the trust policy", LinkState::NotChecked, "", ""},
  };
}

std::string fix_for_skip(SkipReason r, const std::string& ns) {
  switch (r) {
    case SkipReason::NoRoleAnnotation:
      return "create an AwsRoleBinding for the pod's ServiceAccount (or annotate it by hand)";
    case SkipReason::ServiceAccountNotFound:
      return "create the ServiceAccount before the pod";
    case SkipReason::InvalidRoleArn:
      return "fix the role ARN annotation or the binding's awsRoleArn";
    case SkipReason::PodOptOut:
      return "remove the pod annotation gtoken.io/inject: \"false\" and recreate the pod";
    case SkipReason::IgnoredNamespace:
      return "kubectl label namespace " + ns + " admission.gtoken/ignore-";
    case SkipReason::OperatorNamespace:
      return "run the workload in another namespace than the operator's";
    case SkipReason::NoContainerSelected:
      return "fix the binding's containers or the pod's skip-containers annotation";
    case SkipReason::ContainerNameConflict:
      return "rename the pod's container named gtoken or gtoken-init";
    case SkipReason::WindowsNotSupported:
      return "use tokenSource Kubernetes (no agent) for Windows pods";
    case SkipReason::HostNetworkNotSupported:
      return "run without hostNetwork, or use tokenSource Kubernetes";
    default:
      return "see docs/troubleshooting.md, \"Webhook skip reasons\"";
  }
}

// The first entry named `name` of the arrays at `lists` (JSON Pointers), in
// that order; null when none.
json named_entry(const json& obj, std::initializer_list<const char*> lists,
                 const std::string& name) {
  for (const char* list : lists) {
    const json::json_pointer p(list);
    if (obj.contains(p) && obj.at(p).is_array()) {
      for (const auto& e : obj.at(p)) {
        if (e.is_object() && e.value("name", "") == name) {
          return e;
        }
      }
    }
  }
  return nullptr;
}

// "; last refresh N s ago, next in A-B s": the token's iat is when the agent
// last fetched it, and the agent's own schedule (agent/schedule.hpp, with the
// --refresh-before its container was started with) gives the window of its
// next fetch (the jitter spreads it). "" when the claims or args do not say.
std::string refresh_timing(const nlohmann::json& claims, const nlohmann::json& pod, TimePoint now) {
  if (!claims.contains("iat") || !claims["iat"].is_number_integer() ||
      !claims.contains("exp") || !claims["exp"].is_number_integer()) {
    return "";
  }
  const TimePoint iat{std::chrono::seconds(claims["iat"].get<int64_t>())};
  const TimePoint exp{std::chrono::seconds(claims["exp"].get<int64_t>())};
  agent::RefreshPolicy policy;
  const json ctr =
      named_entry(pod, {"/spec/initContainers", "/spec/containers"}, c::kAgentContainer);
  if (ctr.is_object() && ctr.contains("args")) {
    auto parsed = agent::parse_options(string_values(ctr["args"]), [](const std::string&) {
      return std::optional<std::string>();
    });
    if (parsed.options) policy = parsed.options->policy;
  }
  auto secs = [](TimePoint::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  };
  const TimePoint latest = agent::next_refresh(iat, iat, exp, kube::fixed_random(0.0), policy);
  const TimePoint earliest = agent::next_refresh(iat, iat, exp, kube::fixed_random(0.999), policy);
  std::string out = "; last refresh " + secs(now - iat) + " s ago, next ";
  if (latest <= now) return out + "due now";
  if (earliest <= now) return out + "within " + secs(latest - now) + " s";
  return out + "in " + secs(earliest - now) + "-" + secs(latest - now) + " s";
}

bool has_container(const json& pod, const std::string& name) {
  return !named_entry(pod, {"/spec/initContainers", "/spec/containers"}, name).is_null();
}

bool has_volume(const json& pod, const std::string& name) {
  return !named_entry(pod, {"/spec/volumes"}, name).is_null();
}

// The status of container `name` (native sidecars are init containers).
json container_status(const json& pod, const std::string& name) {
  return named_entry(pod, {"/status/initContainerStatuses", "/status/containerStatuses"}, name);
}

// The binding that names this ServiceAccount: the one its gtoken.io/binding
// annotation names, else the oldest naming it (the controller's owner rule).
json binding_for(const json& bindings, const std::string& ksa, const std::string& owner) {
  json best = nullptr;
  for (const auto& b : items_of(bindings)) {
    if (text_at(b, "/spec/serviceAccountName") != ksa) {
      continue;
    }
    if (!owner.empty() && text_at(b, "/metadata/name") == owner) {
      return b;
    }
    if (best.is_null() ||
        text_at(b, "/metadata/creationTimestamp") < text_at(best, "/metadata/creationTimestamp")) {
      best = b;
    }
  }
  return best;
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

// The agent's reason from its JSON log lines (stderr of probe --claims).
std::string agent_reason(const std::string& err) {
  std::string reason;
  size_t start = 0;
  while (start < err.size()) {
    size_t end = err.find('\n', start);
    if (end == std::string::npos) {
      end = err.size();
    }
    auto j = json::parse(err.substr(start, end - start), nullptr, false);
    if (j.is_object() && j.contains("reason") && j["reason"].is_string()) {
      reason = j["reason"].get<std::string>();
      break;
    }
    start = end + 1;
  }
  return reason.empty() ? first_line(err) : reason;
}

// The literal env values of a container, by name.
std::string env_value(const json& ctr, const std::string& name) {
  if (!ctr.contains("env") || !ctr["env"].is_array()) {
    return "";
  }
  for (const auto& e : ctr["env"]) {
    if (e.is_object() && e.value("name", "") == name && e.contains("value") &&
        e["value"].is_string()) {
      return e["value"].get<std::string>();
    }
  }
  return "";
}

// A value, or the value of the one $(VAR) it consists of (the webhook writes
// AWS_REGION as $(AWS_DEFAULT_REGION) when the app sets that).
std::string env_resolved(const json& ctr, const std::string& name) {
  std::string v = env_value(ctr, name);
  if (v.size() > 3 && v.rfind("$(", 0) == 0 && v.back() == ')') {
    v = env_value(ctr, v.substr(2, v.size() - 3));
  }
  return v;
}

// What STS said, from the agent's one JSON line.
Link judge_sts(const PodFacts& f, const json& binding, const std::string& pod_name,
               const std::string& ns) {
  Link l{"sts", "AssumeRoleWithWebIdentity from inside the pod", LinkState::NotChecked, "", ""};
  const std::string at = "STS at " + f.sts_endpoint +
                         (f.sts_endpoint_from.empty() ? "" : " (" + f.sts_endpoint_from + ")");
  if (!f.sts) {
    l.detail = "not run: no role ARN to assume";
    return l;
  }
  if (!f.sts->ran) {
    l.detail = "could not exec into the pod: " + f.sts->error;
    l.fix = "the check needs pods/exec on the pod (your RBAC) and kubectl";
    return l;
  }
  const json v = json::parse(first_line(f.sts->out), nullptr, false);
  if (!v.is_object() || !v.contains("ok")) {
    l.state = LinkState::Fail;
    l.detail = "the agent could not run the STS probe: " + agent_reason(f.sts->err);
    l.fix = "an agent image without gtoken probe --sts (older than this plugin): upgrade it";
    return l;
  }
  if (v.value("ok", false)) {
    l.state = LinkState::Pass;
    l.detail = at + ": assumed " + v.value("arn", "?") + " (the session it opened expires " +
               v.value("expiration", "?") + ")";
    return l;
  }
  l.state = LinkState::Fail;
  if (v.contains("code") && v["code"].is_string()) {
    const std::string code = v["code"].get<std::string>();
    l.detail = at + " answered " + code + ": " + v.value("message", "");
    if (code == "AccessDenied") {
      l.fix = "the role's trust policy does not admit this token (or the role does not exist)";
      if (binding.is_object()) {
        l.fix += ": kubectl gtoken trust-policy " + text_at(binding, "/metadata/name") + " -n " +
                 ns +
                 " > trust.json; aws iam update-assume-role-policy --role-name ROLE "
                 "--policy-document file://trust.json";
      }
    } else if (code == "InvalidIdentityToken" || code == "IDPRejectedClaim") {
      l.fix =
          "STS does not accept the token's issuer or signature: for a non-Google issuer the "
          "account needs an IAM OIDC provider for it";
    } else if (code == "ExpiredTokenException") {
      l.fix = "the token expired before STS read it: kubectl logs " + pod_name + " -n " + ns +
              " -c gtoken";
    } else if (code == "IDPCommunicationError") {
      l.fix = "STS could not reach the token's issuer: retry";
    } else {
      l.fix = "see AWS's message: it is STS's own answer";
    }
  } else {
    l.detail = at + " not reached: " + v.value("error", "?");
    l.fix = "check the pod's egress to " + f.sts_endpoint +
            " (NetworkPolicy, proxy, DNS), or the endpoint its SDK env names";
  }
  return l;
}

}  // namespace

StsEndpoint sts_endpoint_for(const json& pod) {
  json app = nullptr;
  if (pod.contains(json::json_pointer("/spec/containers")) &&
      pod["spec"]["containers"].is_array()) {
    for (const auto& ctr : pod["spec"]["containers"]) {
      if (!ctr.is_object() || ctr.value("name", "") == c::kAgentContainer) {
        continue;
      }
      if (!env_value(ctr, "AWS_WEB_IDENTITY_TOKEN_FILE").empty()) {
        app = ctr;
        break;
      }
    }
  }
  if (app.is_null()) {
    return {agent::kDefaultStsEndpoint, "global: no container with AWS_WEB_IDENTITY_TOKEN_FILE"};
  }
  const std::string in = " of container " + app.value("name", "");
  for (const char* var : {"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"}) {
    if (std::string u = env_resolved(app, var); !u.empty()) {
      return {u, var + in};
    }
  }
  std::string region = env_resolved(app, "AWS_REGION");
  std::string region_var = "AWS_REGION";
  if (region.empty()) {
    region = env_resolved(app, "AWS_DEFAULT_REGION");
    region_var = "AWS_DEFAULT_REGION";
  }
  const std::string mode = env_resolved(app, "AWS_STS_REGIONAL_ENDPOINTS");
  if (!region.empty() && mode != "legacy") {
    const std::string suffix = region.rfind("cn-", 0) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
    return {"https://sts." + region + "." + suffix, "regional: " + region_var + " " + region + in};
  }
  return {agent::kDefaultStsEndpoint,
          std::string("global: ") +
              (region.empty() ? "no AWS_REGION" : "AWS_STS_REGIONAL_ENDPOINTS legacy") + in};
}

std::optional<AgentExec> sts_exec(const json& pod, const std::string& role_arn,
                                  const std::string& endpoint) {
  auto e = agent_exec(pod);
  if (!e) {
    return std::nullopt;
  }
  // agent_exec's argv: PROGRAM probe --claims --file=FILE
  e->argv = {e->argv[0],
             "probe",
             "--sts",
             e->argv[3],
             "--role-arn=" + role_arn,
             "--sts-endpoint=" + endpoint,
             "--session-name=gtoken-doctor"};
  return e;
}

std::optional<AgentExec> agent_exec(const json& pod) {
  const json ctr =
      named_entry(pod, {"/spec/initContainers", "/spec/containers"}, c::kAgentContainer);
  if (ctr.is_null()) {
    return std::nullopt;
  }
  std::vector<std::string> argv;
  for (const char* field : {"command", "args"}) {
    if (ctr.contains(field)) {
      const auto v = string_values(ctr[field]);
      argv.insert(argv.end(), v.begin(), v.end());
    }
  }
  std::string file;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i].rfind("--file=", 0) == 0) {
      file = argv[i].substr(7);
    } else if (argv[i] == "--file" && i + 1 < argv.size()) {
      file = argv[i + 1];
    }
  }
  if (argv.empty() || file.empty()) {
    return std::nullopt;
  }
  return AgentExec{c::kAgentContainer, {argv[0], "probe", "--claims", "--file=" + file}};
}

Report diagnose_pod(const PodFacts& f) {
  const json& pod = f.pod;
  const std::string ns = text_at(pod, "/metadata/namespace");
  std::string ksa = text_at(pod, "/spec/serviceAccountName");
  if (ksa.empty()) {
    ksa = "default";
  }
  Report r{"pod " + ns + "/" + text_at(pod, "/metadata/name"), blank_links(ns, ksa)};
  auto& L = r.links;
  if (f.sts_asked) {
    L.push_back(
        {"sts", "AssumeRoleWithWebIdentity from inside the pod", LinkState::NotChecked, "", ""});
  }

  // namespace
  if (!f.namespace_.error.empty()) {
    L[kNamespace].detail = f.namespace_.error;
  } else {
    const json labels = f.namespace_.object && (*f.namespace_.object).contains("metadata")
                            ? (*f.namespace_.object)["metadata"].value("labels", json::object())
                            : json::object();
    auto skip = webhook::should_skip_namespace(labels, ns, f.operator_namespace);
    if (skip) {
      L[kNamespace].state = LinkState::Fail;
      L[kNamespace].detail =
          "the webhook skips it (" + std::string(webhook::to_string(*skip)) + ")";
      L[kNamespace].fix = fix_for_skip(*skip, ns);
    } else {
      L[kNamespace].state = LinkState::Pass;
      L[kNamespace].detail = f.operator_namespace.empty()
                                 ? "no admission.gtoken/ignore label"
                                 : "no admission.gtoken/ignore label, not the operator's";
    }
  }

  // serviceAccount
  std::optional<webhook::SaSettings> sa_settings;
  std::string owner;
  if (!f.service_account.error.empty()) {
    L[kServiceAccount].detail = f.service_account.error;
  } else if (!f.service_account.object) {
    L[kServiceAccount].state = LinkState::Fail;
    L[kServiceAccount].detail = "not found";
    L[kServiceAccount].fix = "create an AwsRoleBinding naming ServiceAccount " + ksa +
                             " (the operator creates it), then recreate the pod";
  } else {
    const json& sa = *f.service_account.object;
    sa_settings = webhook::settings_from_service_account(sa);
    owner = annotation(sa, c::kBindingAnnotation);
    if (sa_settings->role_arn.empty()) {
      L[kServiceAccount].state = LinkState::Fail;
      L[kServiceAccount].detail = "no amazonaws.com/role-arn or eks.amazonaws.com/role-arn";
      L[kServiceAccount].fix = fix_for_skip(SkipReason::NoRoleAnnotation, ns);
    } else if (!webhook::is_valid_role_arn(sa_settings->role_arn)) {
      L[kServiceAccount].state = LinkState::Fail;
      L[kServiceAccount].detail =
          "role ARN \"" + sa_settings->role_arn + "\" is not an IAM role ARN";
      L[kServiceAccount].fix = fix_for_skip(SkipReason::InvalidRoleArn, ns);
    } else {
      const bool google = sa_settings->token_source == webhook::TokenSource::Google;
      const std::string gsa = annotation(sa, c::kGcpServiceAccountAnnotation);
      L[kServiceAccount].state = LinkState::Pass;
      L[kServiceAccount].detail = "role " + sa_settings->role_arn + ", token source " +
                                  (google ? "Google" : "Kubernetes") +
                                  (owner.empty() ? ", annotated by hand" : ", by binding " + owner);
      if (google && gsa.empty()) {
        L[kServiceAccount].state = LinkState::Fail;
        L[kServiceAccount].detail += "; no iam.gke.io/gcp-service-account";
        L[kServiceAccount].fix =
            "without it GKE's metadata server has no GSA for the pod (404): annotate it, or let "
            "an AwsRoleBinding do it";
      }
    }
  }

  // policy, binding
  json binding = nullptr;
  if (!f.bindings.error.empty()) {
    L[kPolicy].detail = L[kBinding].detail = f.bindings.error;
  } else if (f.bindings.object) {
    binding = binding_for(*f.bindings.object, ksa, owner);
  }
  if (binding.is_object()) {
    L[kPolicy] = policy_link(binding, f.policies, f.namespace_);
    Link ready = ready_link(binding);
    ready.id = "binding";
    L[kBinding] = ready;
    // A binding that does not own the ServiceAccount's annotation.
    if (!owner.empty() && owner != text_at(binding, "/metadata/name")) {
      L[kBinding].state = LinkState::Fail;
      L[kBinding].detail = "the ServiceAccount names binding " + owner + ", which does not exist";
      L[kBinding].fix = "the operator repairs it on its next reconcile; see kubectl gtoken status";
    } else if (f.service_account.object && L[kBinding].state == LinkState::Pass) {
      Link sa = service_account_link(binding, f.service_account);
      if (sa.state == LinkState::Fail) {
        L[kServiceAccount].state = LinkState::Fail;
        L[kServiceAccount].detail = sa.detail;
        L[kServiceAccount].fix = sa.fix;
      }
    }
  } else if (f.bindings.error.empty()) {
    if (!owner.empty()) {
      L[kPolicy].state = LinkState::NotChecked;
      L[kPolicy].detail = "no binding";
      L[kBinding].state = LinkState::Fail;
      L[kBinding].detail = "the ServiceAccount names binding " + owner + ", which does not exist";
      L[kBinding].fix = "recreate the binding, or remove the ServiceAccount's gtoken annotations";
    } else if (sa_settings && !sa_settings->role_arn.empty()) {
      L[kPolicy].state = L[kBinding].state = LinkState::NotApplicable;
      L[kPolicy].detail = L[kBinding].detail =
          "no binding: the ServiceAccount is annotated by hand";
    } else {
      L[kPolicy].detail = "no binding names ServiceAccount " + ksa;
      L[kBinding].state = LinkState::Fail;
      L[kBinding].detail = "no AwsRoleBinding names ServiceAccount " + ksa;
      L[kBinding].fix = "create one (docs/user-guide.md)";
    }
  }

  // injected
  const bool google = !sa_settings || sa_settings->token_source == webhook::TokenSource::Google;
  const bool has_agent =
      has_container(pod, c::kAgentContainer) || has_container(pod, c::kAgentInitContainer);
  const bool has_projected = has_volume(pod, c::kKubernetesTokenVolume);
  bool injected = false;
  if (has_agent || has_projected) {
    injected = true;
    L[kInjected].state = LinkState::Pass;
    L[kInjected].detail = has_agent ? "agent container gtoken and the token volume"
                                    : "projected ServiceAccount token volume aws-iam-token";
  } else if (!f.service_account.object || !sa_settings) {
    L[kInjected].state = LinkState::Fail;
    L[kInjected].detail = "no agent and no token volume";
    L[kInjected].fix = "fix the ServiceAccount link above, then recreate the pod";
  } else {
    // What the webhook would answer for this pod now: its skip reason, or a
    // patch, which means the pod was admitted before the ServiceAccount was
    // bound or while the webhook could not be reached.
    L[kInjected].state = LinkState::Fail;
    auto ns_skip = L[kNamespace].state == LinkState::Fail
                       ? std::optional<SkipReason>(SkipReason::IgnoredNamespace)
                       : std::nullopt;
    webhook::MutationResult m;
    if (!ns_skip) {
      m = webhook::mutate_pod(pod, ns, *sa_settings, webhook::MutationConfig{},
                              [] { return std::uint32_t{4}; });
    }
    if (ns_skip) {
      L[kInjected].detail = "not injected: " + L[kNamespace].detail;
      L[kInjected].fix = L[kNamespace].fix + ", then recreate the pod";
    } else if (m.skip) {
      L[kInjected].detail =
          "not injected: the webhook skips it (" + std::string(webhook::to_string(*m.skip)) + ")";
      L[kInjected].fix = fix_for_skip(*m.skip, ns);
    } else {
      const std::string created = text_at(pod, "/metadata/creationTimestamp");
      std::string since;
      if (binding.is_object()) {
        const json ready = condition(binding, c::kConditionReady);
        if (ready.is_object() && ready.value("status", "") == "True") {
          since = ready.value("lastTransitionTime", "");
        }
      }
      if (!since.empty() && created < since) {
        L[kInjected].detail =
            "not injected: created " + created + ", before its binding was Ready (" + since + ")";
      } else {
        L[kInjected].detail =
            "not injected, though the webhook would inject it now: created before the "
            "ServiceAccount was annotated, or while the webhook was unreachable (failurePolicy "
            "Ignore)";
      }
      L[kInjected].fix =
          "recreate the pod: kubectl rollout restart the workload that owns it (or delete the "
          "pod); if new pods are not injected either, check kubectl gtoken status";
    }
  }

  // agent, claims, trust policy
  if (!injected) {
    mark_rest_not_checked(L, kAgent, "the pod has no credentials injected");
    return r;
  }
  if (!has_agent || !google) {
    for (Step s : {kAgent, kClaims}) {
      L[s].state = LinkState::NotApplicable;
      L[s].detail = "tokenSource Kubernetes: no agent; the kubelet writes the projected token";
    }
    L[kTrust].state = LinkState::NotApplicable;
    L[kTrust].detail = "the token is not read in the pod without an agent";
    if (f.sts_asked) {
      L[kSts].state = LinkState::NotApplicable;
      L[kSts].detail = "no agent in the pod to run it (tokenSource Kubernetes)";
    }
    return r;
  }

  const json st = container_status(pod, c::kAgentContainer);
  if (!st.is_object()) {
    L[kAgent].state = LinkState::Fail;
    const std::string phase = text_at(pod, "/status/phase");
    const json sched = condition(pod, "PodScheduled");
    L[kAgent].detail =
        "not started: pod " + (phase.empty() ? std::string("without status") : phase);
    if (sched.is_object() && sched.value("status", "") != "True") {
      L[kAgent].detail += ", not scheduled (" + sched.value("reason", "") + ")";
    }
    L[kAgent].fix = "kubectl describe pod " + text_at(pod, "/metadata/name") + " -n " + ns;
  } else {
    const long long restarts = st.value("restartCount", 0LL);
    const json state = st.value("state", json::object());
    std::string restarts_text = std::to_string(restarts) + " restart" + (restarts == 1 ? "" : "s");
    if (restarts > 0 && st.contains("lastState") && st["lastState"].contains("terminated")) {
      const json& t = st["lastState"]["terminated"];
      restarts_text += " (last: " + t.value("reason", "") + ", exit " +
                       std::to_string(t.value("exitCode", 0)) + ")";
    }
    const std::string logs = "kubectl logs " + text_at(pod, "/metadata/name") + " -n " + ns +
                             " -c gtoken (a 404 from the metadata server: the ServiceAccount "
                             "has no GSA; 403: the Workload Identity member is missing)";
    if (state.contains("running") && st.value("started", false)) {
      L[kAgent].state = LinkState::Pass;
      L[kAgent].detail = "running, startup probe passed, " + restarts_text;
    } else if (state.contains("running")) {
      L[kAgent].state = LinkState::Fail;
      L[kAgent].detail = "running, startup probe not passed: no valid token yet, " + restarts_text;
      L[kAgent].fix = logs;
    } else if (state.contains("waiting")) {
      L[kAgent].state = LinkState::Fail;
      L[kAgent].detail = "waiting (" + state["waiting"].value("reason", "") + "), " + restarts_text;
      L[kAgent].fix = logs;
    } else {
      L[kAgent].state = LinkState::Fail;
      L[kAgent].detail = "not running, " + restarts_text;
      L[kAgent].fix = logs;
    }
  }
  if (L[kAgent].state != LinkState::Pass) {
    mark_rest_not_checked(L, kClaims, "the agent is not running");
    return r;
  }

  // claims
  json claims = nullptr;
  if (!f.claims) {
    L[kClaims].detail = "not read";
  } else if (!f.claims->ran) {
    L[kClaims].detail = "could not exec into the pod: " + f.claims->error;
    L[kClaims].fix = "the check needs pods/exec on the pod (your RBAC) and kubectl";
  } else {
    claims = json::parse(first_line(f.claims->out), nullptr, false);
    if (!claims.is_object()) {
      claims = nullptr;
      L[kClaims].state = LinkState::Fail;
      L[kClaims].detail = "no token in the pod: " + agent_reason(f.claims->err);
      L[kClaims].fix =
          "kubectl logs " + text_at(pod, "/metadata/name") + " -n " + ns + " -c gtoken";
    }
  }
  if (claims.is_object()) {
    const std::string want_aud =
        sa_settings && sa_settings->audience ? *sa_settings->audience : c::kDefaultAudience;
    const std::string want_gsa =
        f.service_account.object
            ? annotation(*f.service_account.object, c::kGcpServiceAccountAnnotation)
            : "";
    const std::string want_sub =
        binding.is_object() ? text_at(binding, "/status/gcpServiceAccountUniqueId") : "";
    // The token's aud: one string or several.
    const auto auds =
        claims.contains("aud") ? string_values(claims["aud"]) : std::vector<std::string>{};
    std::string shown = "iss " + claims.value("iss", "?") + ", aud " +
                        (auds.empty() ? "?" : auds[0]) + ", sub " + claims.value("sub", "?");
    if (claims.contains("email")) {
      shown += ", email " + claims.value("email", "");
    }
    L[kClaims].state = LinkState::Fail;
    if (!claims.value("valid", false)) {
      L[kClaims].detail =
          shown + ": expired (" + std::to_string(claims.value("expires_in_s", 0LL)) + " s)";
      L[kClaims].fix = "the agent does not refresh it: kubectl logs " +
                       text_at(pod, "/metadata/name") + " -n " + ns + " -c gtoken";
    } else if (std::find(auds.begin(), auds.end(), want_aud) == auds.end()) {
      L[kClaims].detail = shown + ": the audience is not \"" + want_aud + "\"";
      L[kClaims].fix = "recreate the pod, so that the agent gets the ServiceAccount's audience";
    } else if (!want_gsa.empty() && claims.contains("email") &&
               claims.value("email", "") != want_gsa) {
      L[kClaims].detail = shown + ": the ServiceAccount is bound to " + want_gsa;
      L[kClaims].fix =
          "the pod runs as another GSA: check the ServiceAccount's "
          "iam.gke.io/gcp-service-account and recreate the pod";
    } else if (!want_sub.empty() && claims.value("sub", "") != want_sub) {
      L[kClaims].detail = shown + ": the binding's GSA has uniqueId " + want_sub;
      L[kClaims].fix = "the pod runs as another GSA than the binding's: recreate the pod";
    } else {
      L[kClaims].state = LinkState::Pass;
      L[kClaims].detail =
          shown + ", expires in " + std::to_string(claims.value("expires_in_s", 0LL)) + " s" +
          refresh_timing(claims, pod, f.now);
    }
  }
  if (L[kClaims].state != LinkState::Pass) {
    mark_rest_not_checked(L, kTrust, "the token's claims are not known to be right");
    return r;
  }
  // STS's own answer, whatever the trust policy link below concludes.
  if (f.sts_asked) {
    L[kSts] = judge_sts(f, binding, text_at(pod, "/metadata/name"), ns);
  }

  // trust policy: aws/'s evaluation, as STS decides
  std::string policy, from;
  if (f.trust_policy) {
    policy = f.trust_policy->dump();
    from = "the given trust policy";
  } else if (binding.is_object() && !text_at(binding, "/status/awsTrustPolicy").empty()) {
    policy = text_at(binding, "/status/awsTrustPolicy");
    from = "binding " + text_at(binding, "/metadata/name") + "'s status.awsTrustPolicy";
  }
  if (policy.empty()) {
    L[kTrust].detail = "no trust policy known";
    L[kTrust].fix =
        "pass the role's trust policy: aws iam get-role --role-name ROLE --query "
        "Role.AssumeRolePolicyDocument > trust.json; --trust-policy trust.json";
    return r;
  }
  std::string iss = claims.value("iss", "");
  if (iss.rfind("https://", 0) == 0) {
    iss = iss.substr(8);
  }
  const std::string provider =
      iss == aws::kGoogleProvider
          ? std::string(aws::kGoogleProvider)
          : (binding.is_object() ? text_at(binding, "/status/awsOidcProviderArn") : "");
  if (provider.empty()) {
    L[kTrust].detail = "the token's issuer " + claims.value("iss", "?") +
                       " is not Google and no AWS OIDC provider is known for it";
    return r;
  }
  try {
    const aws::TrustVerdict v =
        aws::evaluate_web_identity(policy, aws::web_identity_request(provider, claims));
    L[kTrust].state = v.allowed() ? LinkState::Pass : LinkState::Fail;
    L[kTrust].detail = from + ": " + v.message();
  } catch (const std::exception& e) {
    L[kTrust].state = LinkState::Fail;
    L[kTrust].detail = from + " cannot be read: " + e.what();
  }
  if (L[kTrust].state == LinkState::Fail) {
    L[kTrust].fix = binding.is_object()
                        ? "attach the binding's trust policy to the role: kubectl gtoken "
                          "trust-policy " +
                              text_at(binding, "/metadata/name") + " -n " + ns +
                              " > trust.json; aws iam update-assume-role-policy --role-name "
                              "ROLE --policy-document file://trust.json"
                        : "change the role's trust policy to accept these claims";
  }
  return r;
}

}  // namespace gtoken::plugin
