// One test per link of `kubectl gtoken doctor pod`: a chain where every link
// holds, then each link broken on its own.
#include <doctest/doctest.h>

#include "operator/policy.hpp"
#include "plugin/pod_doctor.hpp"
#include "plugin/render.hpp"

using namespace gtoken::plugin;
using nlohmann::json;

namespace {

constexpr const char* kAud = "gtoken/sts/assume-role-with-web-identity";
constexpr const char* kRole = "arn:aws:iam::123456789012:role/uploader";
constexpr const char* kGsa = "up@my-project.iam.gserviceaccount.com";

json agent_container() {
  return {{"name", "gtoken"},
          {"image", "gtoken:latest"},
          {"command", {"/gtoken"}},
          {"args",
           {"--refresh", "--file=/var/run/secrets/aws/token/gtoken",
            std::string("--audience=") + kAud}},
          {"restartPolicy", "Always"}};
}

json healthy_pod() {
  return {
      {"metadata",
       {{"name", "app-1"}, {"namespace", "jobs"}, {"creationTimestamp", "2026-12-01T10:00:00Z"}}},
      {"spec",
       {{"serviceAccountName", "orchestrator"},
        {"initContainers", {agent_container()}},
        {"containers", {{{"name", "app"}, {"image", "app:1"}}}},
        {"volumes", {{{"name", "gtoken-volume"}, {"emptyDir", {{"medium", "Memory"}}}}}}}},
      {"status",
       {{"phase", "Running"},
        {"initContainerStatuses",
         {{{"name", "gtoken"},
           {"started", true},
           {"restartCount", 0},
           {"state", {{"running", {{"startedAt", "2026-12-01T10:00:02Z"}}}}}}}}}}};
}

json binding() {
  return {{"metadata",
           {{"name", "uploader"},
            {"namespace", "jobs"},
            {"generation", 1},
            {"creationTimestamp", "2026-12-01T09:00:00Z"}}},
          {"spec",
           {{"serviceAccountName", "orchestrator"},
            {"gcpServiceAccount", kGsa},
            {"awsRoleArn", kRole}}},
          {"status",
           {{"gcpServiceAccountUniqueId", "111"},
            {"awsTrustPolicy", gtoken::aws_trust_policy("111", kAud).dump()},
            {"conditions",
             {{{"type", "Ready"},
               {"status", "True"},
               {"reason", "Ready"},
               {"observedGeneration", 1},
               {"lastTransitionTime", "2026-12-01T09:00:05Z"}}}}}}};
}

json service_account() {
  return {{"metadata",
           {{"name", "orchestrator"},
            {"namespace", "jobs"},
            {"annotations",
             {{"amazonaws.com/role-arn", kRole},
              {"iam.gke.io/gcp-service-account", kGsa},
              {"gtoken.io/audience", kAud},
              {"gtoken.io/binding", "uploader"}}}}}};
}

json policy_list() {
  return {{"items",
           {{{"metadata", {{"name", "jobs-uploads"}}},
             {"spec",
              {{"namespaces", {{"names", {"jobs"}}}},
               {"gcpServiceAccounts", {"*@my-project.iam.gserviceaccount.com"}},
               {"awsRoles", {"123456789012"}}}}}}}};
}

ClaimsProbe good_claims() {
  json c = {{"iss", "https://accounts.google.com"},
            {"aud", kAud},
            {"azp", "111"},
            {"sub", "111"},
            {"email", kGsa},
            {"exp", 1800000000},
            {"expires_in_s", 3000},
            {"valid", true}};
  return {true, "", 0, c.dump() + "\n", ""};
}

PodFacts healthy() {
  PodFacts f;
  f.pod = healthy_pod();
  f.namespace_ = {json{{"metadata", {{"name", "jobs"}, {"labels", json::object()}}}}, ""};
  f.operator_namespace = "gtoken-system";
  f.service_account = {service_account(), ""};
  f.bindings = {json{{"items", {binding()}}}, ""};
  f.policies = {policy_list(), ""};
  f.claims = good_claims();
  return f;
}

const Link& link(const Report& r, const std::string& id) {
  for (const auto& l : r.links) {
    if (l.id == id) {
      return l;
    }
  }
  FAIL("no link " << id);
  return r.links.front();
}

// Exactly `id` fails; the links before it hold.
void only_fails_at(const Report& r, const std::string& id) {
  INFO(render_text(r, false));
  bool before = true;
  for (const auto& l : r.links) {
    if (l.id == id) {
      CHECK(l.state == LinkState::Fail);
      CHECK_FALSE(l.fix.empty());
      before = false;
    } else if (before) {
      CHECK(l.state != LinkState::Fail);
    }
  }
  CHECK_FALSE(before);
  CHECK_FALSE(all_hold(r));
}

}  // namespace

TEST_CASE("every link holds for a healthy pod") {
  Report r = diagnose_pod(healthy());
  INFO(render_text(r, false));
  CHECK(all_hold(r));
  CHECK(r.links.size() == 8);
  CHECK(link(r, "serviceAccount").detail.find("by binding uploader") != std::string::npos);
  CHECK(link(r, "policy").detail.find("jobs-uploads") != std::string::npos);
  CHECK(link(r, "claims").detail.find("sub 111") != std::string::npos);
  CHECK(link(r, "trustPolicy").detail.find("allows") != std::string::npos);
}

TEST_CASE("namespace: ignored by label, or the operator's own") {
  PodFacts f = healthy();
  (*f.namespace_.object)["metadata"]["labels"]["admission.gtoken/ignore"] = "true";
  Report r = diagnose_pod(f);
  only_fails_at(r, "namespace");
  CHECK(link(r, "namespace").fix.find("admission.gtoken/ignore-") != std::string::npos);
  f = healthy();
  f.operator_namespace = "jobs";
  CHECK(diagnose_pod(f).links[0].detail.find("OperatorNamespace") != std::string::npos);
  f = healthy();
  f.namespace_ = {std::nullopt, "not allowed to read it (your RBAC): forbidden"};
  CHECK(diagnose_pod(f).links[0].state == LinkState::NotChecked);
}

TEST_CASE("serviceAccount: missing, unannotated, invalid ARN, wrong annotation") {
  PodFacts f = healthy();
  f.service_account = {std::nullopt, ""};
  only_fails_at(diagnose_pod(f), "serviceAccount");

  f = healthy();
  (*f.service_account.object)["metadata"]["annotations"].erase("amazonaws.com/role-arn");
  Report r = diagnose_pod(f);
  only_fails_at(r, "serviceAccount");
  CHECK(link(r, "serviceAccount").detail.find("amazonaws.com/role-arn is absent") !=
        std::string::npos);
  // Without a binding to compare with, the webhook's view.
  f.bindings = {json{{"items", json::array()}}, ""};
  (*f.service_account.object)["metadata"]["annotations"].erase("gtoken.io/binding");
  r = diagnose_pod(f);
  CHECK(link(r, "serviceAccount").detail.find("no amazonaws.com/role-arn") != std::string::npos);
  CHECK(link(r, "binding").state == LinkState::Fail);

  f = healthy();
  (*f.service_account.object)["metadata"]["annotations"]["amazonaws.com/role-arn"] =
      "arn:aws:iam::1:role/x";
  only_fails_at(diagnose_pod(f), "serviceAccount");

  // Annotated with another role than its binding's.
  f = healthy();
  (*f.service_account.object)["metadata"]["annotations"]["amazonaws.com/role-arn"] =
      "arn:aws:iam::123456789012:role/other";
  r = diagnose_pod(f);
  only_fails_at(r, "serviceAccount");
  CHECK(link(r, "serviceAccount").detail.find("the binding says") != std::string::npos);
}

TEST_CASE("a hand-annotated ServiceAccount has no binding or policy links") {
  PodFacts f = healthy();
  (*f.service_account.object)["metadata"]["annotations"].erase("gtoken.io/binding");
  f.bindings = {json{{"items", json::array()}}, ""};
  Report r = diagnose_pod(f);
  CHECK(link(r, "binding").state == LinkState::NotApplicable);
  CHECK(link(r, "policy").state == LinkState::NotApplicable);
  CHECK(link(r, "serviceAccount").detail.find("by hand") != std::string::npos);
  // No trust policy known without a binding: given one, it is judged.
  CHECK(link(r, "trustPolicy").state == LinkState::NotChecked);
  f.trust_policy = gtoken::aws_trust_policy("111", kAud);
  CHECK(all_hold(diagnose_pod(f)));
}

TEST_CASE("policy: the binding is NotAllowed") {
  PodFacts f = healthy();
  auto& cond = (*f.bindings.object)["items"][0]["status"]["conditions"][0];
  cond["status"] = "False";
  cond["reason"] = "NotAllowed";
  cond["message"] = "no AwsRoleBindingPolicy allows namespace \"jobs\"";
  Report r = diagnose_pod(f);
  only_fails_at(r, "policy");
  CHECK(link(r, "policy").detail.find("namespace \"jobs\"") != std::string::npos);
}

TEST_CASE("binding: not Ready with its reason, not reconciled, missing") {
  PodFacts f = healthy();
  auto& cond = (*f.bindings.object)["items"][0]["status"]["conditions"][0];
  cond["status"] = "False";
  cond["reason"] = "PermissionDenied";
  Report r = diagnose_pod(f);
  only_fails_at(r, "binding");
  CHECK(link(r, "binding").detail.find("PermissionDenied") != std::string::npos);
  CHECK(link(r, "binding").fix.find("serviceAccountAdmin") != std::string::npos);

  f = healthy();
  (*f.bindings.object)["items"][0]["metadata"]["generation"] = 2;
  only_fails_at(diagnose_pod(f), "binding");

  f = healthy();
  f.bindings = {json{{"items", json::array()}}, ""};
  r = diagnose_pod(f);
  only_fails_at(r, "binding");
  CHECK(link(r, "binding").detail.find("uploader, which does not exist") != std::string::npos);
}

TEST_CASE("injected: created before the binding, or skipped with the webhook's reason") {
  PodFacts f = healthy();
  f.pod["spec"].erase("initContainers");
  f.pod["spec"]["volumes"] = json::array();
  f.pod["metadata"]["creationTimestamp"] = "2026-12-01T08:00:00Z";
  Report r = diagnose_pod(f);
  only_fails_at(r, "injected");
  CHECK(link(r, "injected").detail.find("before its binding was Ready") != std::string::npos);
  CHECK(link(r, "injected").fix.find("rollout restart") != std::string::npos);
  CHECK(link(r, "agent").state == LinkState::NotChecked);

  f.pod["metadata"]["creationTimestamp"] = "2026-12-01T10:00:00Z";
  CHECK(diagnose_pod(f).links[4].detail.find("webhook was unreachable") != std::string::npos);

  f.pod["metadata"]["annotations"] = {{"gtoken.io/inject", "false"}};
  r = diagnose_pod(f);
  only_fails_at(r, "injected");
  CHECK(link(r, "injected").detail.find("PodOptOut") != std::string::npos);

  f.pod["metadata"].erase("annotations");
  f.pod["spec"]["hostNetwork"] = true;
  CHECK(diagnose_pod(f).links[4].detail.find("HostNetworkNotSupported") != std::string::npos);
}

TEST_CASE("agent: not started, startup probe not passed, crash looping") {
  PodFacts f = healthy();
  f.pod["status"] = {
      {"phase", "Pending"},
      {"conditions",
       {{{"type", "PodScheduled"}, {"status", "False"}, {"reason", "Unschedulable"}}}}};
  Report r = diagnose_pod(f);
  only_fails_at(r, "agent");
  CHECK(link(r, "agent").detail.find("Unschedulable") != std::string::npos);
  CHECK(link(r, "claims").state == LinkState::NotChecked);

  f = healthy();
  f.pod["status"]["initContainerStatuses"][0]["started"] = false;
  r = diagnose_pod(f);
  only_fails_at(r, "agent");
  CHECK(link(r, "agent").fix.find("-c gtoken") != std::string::npos);

  f = healthy();
  auto& st = f.pod["status"]["initContainerStatuses"][0];
  st["state"] = {{"waiting", {{"reason", "CrashLoopBackOff"}}}};
  st["restartCount"] = 4;
  st["lastState"] = {{"terminated", {{"reason", "Error"}, {"exitCode", 1}}}};
  r = diagnose_pod(f);
  only_fails_at(r, "agent");
  CHECK(link(r, "agent").detail.find("4 restarts (last: Error, exit 1)") != std::string::npos);
}

TEST_CASE("claims: no token, expired, wrong audience, another GSA, exec refused") {
  PodFacts f = healthy();
  f.claims = ClaimsProbe{
      true, "", 1, "",
      R"({"level":"error","msg":"probe failed","reason":"cannot open /t: No such file"})"};
  Report r = diagnose_pod(f);
  only_fails_at(r, "claims");
  CHECK(link(r, "claims").detail.find("No such file") != std::string::npos);

  auto with = [&](const char* key, const json& v) {
    PodFacts g = healthy();
    json c = json::parse(g.claims->out);
    c[key] = v;
    g.claims->out = c.dump();
    return diagnose_pod(g);
  };
  r = with("valid", false);
  only_fails_at(r, "claims");
  CHECK(link(r, "claims").detail.find("expired") != std::string::npos);
  r = with("aud", "another-audience");
  only_fails_at(r, "claims");
  CHECK(link(r, "claims").detail.find("audience is not") != std::string::npos);
  r = with("email", "other@my-project.iam.gserviceaccount.com");
  only_fails_at(r, "claims");
  r = with("sub", "222");
  only_fails_at(r, "claims");
  CHECK(link(r, "claims").detail.find("uniqueId 111") != std::string::npos);

  f = healthy();
  f.claims = ClaimsProbe{false, "cannot run kubectl: No such file or directory", -1, "", ""};
  r = diagnose_pod(f);
  CHECK(link(r, "claims").state == LinkState::NotChecked);
  CHECK_FALSE(all_hold(r));
}

TEST_CASE("trustPolicy: the role's policy pins another sub or audience") {
  PodFacts f = healthy();
  f.trust_policy = gtoken::aws_trust_policy("999", kAud);
  Report r = diagnose_pod(f);
  only_fails_at(r, "trustPolicy");
  CHECK(link(r, "trustPolicy")
            .detail.find("StringEquals accounts.google.com:sub: the token has [\"111\"], the "
                         "policy wants [\"999\"]") != std::string::npos);
  CHECK(link(r, "trustPolicy").fix.find("kubectl gtoken trust-policy uploader") !=
        std::string::npos);
  f.trust_policy = gtoken::aws_trust_policy("111", "other-audience");
  r = diagnose_pod(f);
  only_fails_at(r, "trustPolicy");
  CHECK(link(r, "trustPolicy").detail.find("accounts.google.com:oaud") != std::string::npos);
  // What cannot be read is a broken link, not an allowed one.
  f.trust_policy = nlohmann::json{{"Statement", "nonsense"}};
  only_fails_at(diagnose_pod(f), "trustPolicy");
}

TEST_CASE("trustPolicy: a token of another issuer than Google needs a known OIDC provider") {
  PodFacts f = healthy();
  json c = json::parse(f.claims->out);
  c["iss"] = "https://issuer.example";
  f.claims->out = c.dump();
  Report r = diagnose_pod(f);
  CHECK(link(r, "trustPolicy").state == LinkState::NotChecked);
  CHECK(link(r, "trustPolicy").detail.find("no AWS OIDC provider") != std::string::npos);
}

TEST_CASE("the Kubernetes token source: no agent links") {
  PodFacts f = healthy();
  auto& ann = (*f.service_account.object)["metadata"]["annotations"];
  ann.erase("amazonaws.com/role-arn");
  ann.erase("iam.gke.io/gcp-service-account");
  ann["eks.amazonaws.com/role-arn"] = kRole;
  auto& b = (*f.bindings.object)["items"][0];
  b["spec"]["tokenSource"] = "Kubernetes";
  b["spec"].erase("gcpServiceAccount");
  f.pod["spec"].erase("initContainers");
  f.pod["spec"]["volumes"] = {{{"name", "aws-iam-token"}}};
  f.claims.reset();
  Report r = diagnose_pod(f);
  INFO(render_text(r, false));
  CHECK(link(r, "injected").state == LinkState::Pass);
  CHECK(link(r, "agent").state == LinkState::NotApplicable);
  CHECK(link(r, "claims").state == LinkState::NotApplicable);
  CHECK(all_hold(r));
}

TEST_CASE("the in-pod command comes from the stored agent container") {
  auto e = agent_exec(healthy_pod());
  REQUIRE(e);
  CHECK(e->container == "gtoken");
  CHECK(e->argv == std::vector<std::string>{"/gtoken", "probe", "--claims",
                                            "--file=/var/run/secrets/aws/token/gtoken"});
  json classic = healthy_pod();
  classic["spec"]["containers"].push_back(agent_container());
  classic["spec"]["containers"].back()["args"] = {"--refresh", "--file", "/t/f"};
  classic["spec"].erase("initContainers");
  CHECK(agent_exec(classic)->argv.back() == "--file=/t/f");
  json none = healthy_pod();
  none["spec"].erase("initContainers");
  CHECK_FALSE(agent_exec(none));
}

namespace {

// What the agent's probe --sts printed, as kubectl exec hands it back.
StsProbe sts_line(const json& line, int exit_code) {
  return {true, "", exit_code, line.dump() + "\n", ""};
}

PodFacts with_sts(StsProbe p) {
  PodFacts f = healthy();
  f.sts_asked = true;
  f.sts = std::move(p);
  f.sts_endpoint = "https://sts.us-east-1.amazonaws.com";
  f.sts_endpoint_from = "regional: AWS_REGION us-east-1 of container app";
  return f;
}

json app_with_env(std::initializer_list<std::pair<const char*, const char*>> env) {
  json e = json::array(
      {{{"name", "AWS_WEB_IDENTITY_TOKEN_FILE"}, {"value", "/var/run/secrets/aws/token/gtoken"}}});
  for (const auto& [k, v] : env) {
    e.push_back({{"name", k}, {"value", v}});
  }
  json pod = healthy_pod();
  pod["spec"]["containers"] = {{{"name", "sidecar"}, {"image", "s:1"}},
                               {{"name", "app"}, {"image", "app:1"}, {"env", e}}};
  return pod;
}

}  // namespace

TEST_CASE("sts: not shown unless asked; the assumed role when STS accepts") {
  CHECK(diagnose_pod(healthy()).links.size() == 8);
  Report r = diagnose_pod(
      with_sts(sts_line({{"ok", true},
                         {"arn", "arn:aws:sts::123456789012:assumed-role/uploader/gtoken-doctor"},
                         {"assumedRoleId", "AROAX:gtoken-doctor"},
                         {"expiration", "2026-12-02T08:00:00Z"},
                         {"endpoint", "https://sts.us-east-1.amazonaws.com"}},
                        0)));
  INFO(render_text(r, false));
  REQUIRE(r.links.size() == 9);
  const Link& l = r.links.back();
  CHECK(l.id == "sts");
  CHECK(l.title == "AssumeRoleWithWebIdentity from inside the pod");
  CHECK(l.state == LinkState::Pass);
  CHECK(l.detail.find("assumed arn:aws:sts::123456789012:assumed-role/uploader/gtoken-doctor") !=
        std::string::npos);
  CHECK(l.detail.find("STS at https://sts.us-east-1.amazonaws.com (regional: AWS_REGION") !=
        std::string::npos);
  CHECK(all_hold(r));
}

TEST_CASE("sts: AWS's code and message, word for word, with a fix by code") {
  Report r = diagnose_pod(
      with_sts(sts_line({{"ok", false},
                         {"code", "AccessDenied"},
                         {"message", "Not authorized to perform sts:AssumeRoleWithWebIdentity"},
                         {"status", 403}},
                        1)));
  only_fails_at(r, "sts");
  const Link& l = link(r, "sts");
  CHECK(l.detail.find("answered AccessDenied: Not authorized to perform "
                      "sts:AssumeRoleWithWebIdentity") != std::string::npos);
  CHECK(l.fix.find("kubectl gtoken trust-policy uploader -n jobs") != std::string::npos);
  // The trust policy link still says what the policy the plugin knows admits.
  CHECK(link(r, "trustPolicy").state == LinkState::Pass);

  Report bad = diagnose_pod(with_sts(sts_line(
      {{"ok", false}, {"code", "InvalidIdentityToken"}, {"message", "No OpenIDConnect provider"}},
      1)));
  CHECK(link(bad, "sts").state == LinkState::Fail);
  CHECK(link(bad, "sts").fix.find("OIDC provider") != std::string::npos);
}

TEST_CASE("sts: unreachable, an old agent, exec refused, earlier links broken") {
  Report down = diagnose_pod(
      with_sts(sts_line({{"ok", false}, {"error", "connect: Connection refused"}}, 1)));
  only_fails_at(down, "sts");
  CHECK(link(down, "sts").detail.find("not reached: connect: Connection refused") !=
        std::string::npos);
  CHECK(link(down, "sts").fix.find("egress to https://sts.us-east-1.amazonaws.com") !=
        std::string::npos);

  Report old = diagnose_pod(with_sts(StsProbe{true, "", 2, "",
                                              R"({"level":"error","msg":"x"})"
                                              "\ngtoken: unknown flag --sts\n"}));
  only_fails_at(old, "sts");
  CHECK(link(old, "sts").fix.find("upgrade") != std::string::npos);

  Report refused = diagnose_pod(with_sts(StsProbe{false, "kubectl: forbidden", -1, "", ""}));
  CHECK(link(refused, "sts").state == LinkState::NotChecked);
  CHECK(link(refused, "sts").detail.find("kubectl: forbidden") != std::string::npos);
  CHECK_FALSE(all_hold(refused));

  PodFacts expired = with_sts(sts_line({{"ok", true}, {"arn", "a"}}, 0));
  json c = json::parse(expired.claims->out);
  c["valid"] = false;
  expired.claims->out = c.dump();
  Report r = diagnose_pod(expired);
  CHECK(link(r, "sts").state == LinkState::NotChecked);
  CHECK(link(r, "sts").detail == "the token's claims are not known to be right");
}

TEST_CASE("sts endpoint: the SDKs' order in the app container's env") {
  auto at = [](json pod) { return sts_endpoint_for(pod); };
  CHECK(at(app_with_env({{"AWS_ENDPOINT_URL_STS", "http://sts.local:4566"},
                         {"AWS_ENDPOINT_URL", "http://all.local"},
                         {"AWS_REGION", "eu-west-1"}}))
            .url == "http://sts.local:4566");
  CHECK(at(app_with_env({{"AWS_ENDPOINT_URL_STS", "http://sts.local:4566"}})).from ==
        "AWS_ENDPOINT_URL_STS of container app");
  CHECK(at(app_with_env({{"AWS_ENDPOINT_URL", "http://all.local"}, {"AWS_REGION", "eu-west-1"}}))
            .url == "http://all.local");
  CHECK(at(app_with_env({{"AWS_REGION", "eu-west-1"}, {"AWS_STS_REGIONAL_ENDPOINTS", "regional"}}))
            .url == "https://sts.eu-west-1.amazonaws.com");
  CHECK(at(app_with_env({{"AWS_REGION", "eu-west-1"}})).url ==
        "https://sts.eu-west-1.amazonaws.com");
  CHECK(at(app_with_env({{"AWS_REGION", "cn-north-1"}})).url ==
        "https://sts.cn-north-1.amazonaws.com.cn");
  CHECK(at(app_with_env({{"AWS_REGION", "us-west-2"}, {"AWS_STS_REGIONAL_ENDPOINTS", "legacy"}}))
            .url == "https://sts.amazonaws.com");
  CHECK(at(app_with_env({})).url == "https://sts.amazonaws.com");
  // The webhook writes AWS_REGION as $(AWS_DEFAULT_REGION) when the app sets that.
  CHECK(at(app_with_env(
               {{"AWS_DEFAULT_REGION", "ap-south-1"}, {"AWS_REGION", "$(AWS_DEFAULT_REGION)"}}))
            .url == "https://sts.ap-south-1.amazonaws.com");
  CHECK(at(app_with_env({{"AWS_DEFAULT_REGION", "ap-south-1"}})).from ==
        "regional: AWS_DEFAULT_REGION ap-south-1 of container app");
  // No container the webhook injected: the global endpoint, said so.
  CHECK(at(healthy_pod()).from.find("no container with AWS_WEB_IDENTITY_TOKEN_FILE") !=
        std::string::npos);
}

TEST_CASE("sts: the in-pod command") {
  auto e = sts_exec(healthy_pod(), kRole, "http://127.0.0.1:9");
  REQUIRE(e);
  CHECK(e->container == "gtoken");
  CHECK(e->argv == std::vector<std::string>{
                       "/gtoken", "probe", "--sts", "--file=/var/run/secrets/aws/token/gtoken",
                       std::string("--role-arn=") + kRole, "--sts-endpoint=http://127.0.0.1:9",
                       "--session-name=gtoken-doctor"});
  json none = healthy_pod();
  none["spec"].erase("initContainers");
  CHECK_FALSE(sts_exec(none, kRole, "https://sts.amazonaws.com"));
}

TEST_CASE("claims: the agent's last refresh (iat) and its next, by the container's --refresh-before") {
  PodFacts f = healthy();
  // A 3600 s token minted 1000 s ago.
  const int64_t iat = 1'800'000'000 - 3600;
  f.now = TimePoint{std::chrono::seconds(iat + 1000)};
  json c = json::parse(f.claims->out);
  c["iat"] = iat;
  f.claims->out = c.dump();
  // The default policy: keep 0.4 of the lifetime, jitter 0.1: the next fetch
  // 1800-2160 s after iat, i.e. 800-1160 s from now.
  Report r = diagnose_pod(f);
  CHECK(all_hold(r));
  CHECK(link(r, "claims").detail.find("last refresh 1000 s ago, next in 800-1160 s") !=
        std::string::npos);
  // --refresh-before 20m on the agent: 2040-2400 s after iat.
  for (auto& ctr : f.pod["spec"]["initContainers"]) {
    if (ctr["name"] == "gtoken") ctr["args"].push_back("--refresh-before=20m");
  }
  r = diagnose_pod(f);
  CHECK(link(r, "claims").detail.find("next in 1040-1400 s") != std::string::npos);
  // Past the window: due now.
  f.now = TimePoint{std::chrono::seconds(iat + 3000)};
  r = diagnose_pod(f);
  CHECK(link(r, "claims").detail.find("next due now") != std::string::npos);
  // No iat: nothing claimed about refreshes.
  c.erase("iat");
  f.claims->out = c.dump();
  r = diagnose_pod(f);
  CHECK(link(r, "claims").detail.find("last refresh") == std::string::npos);
}
