// The Kubernetes token source: the EKS webhook's annotations read as it reads
// them, the projected volume, and mutate_pod's behaviour for this source.
// Whole pods, the EKS webhook's own test pods among them, are golden cases
// (tests/golden/webhook/kubernetes-*, eks-*).

#include <doctest/doctest.h>

#include <limits>
#include <set>
#include <string>
#include <vector>

#include "webhook/kubernetes_token.hpp"
#include "webhook/mutate.hpp"
#include "webhook/text.hpp"

namespace {

using namespace gtoken::webhook;
using nlohmann::json;

constexpr const char* kArn = "arn:aws:iam::123456789012:role/app";
constexpr const char* kMountPath = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
constexpr const char* kTokenFile = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";

json sa_with(json annotations) {
  return {{"metadata", {{"name", "app"}, {"annotations", std::move(annotations)}}}};
}

json simple_pod() {
  return {{"metadata", {{"name", "app"}}},
          {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "app:1"}}})}}}};
}

SaSettings eks(json more = json::object()) {
  json annotations = {{"eks.amazonaws.com/role-arn", kArn}};
  annotations.update(more);
  return settings_from_service_account(sa_with(std::move(annotations)));
}

RandomSource fixed(std::uint32_t value) {
  return [value] { return value; };
}

MutationResult mutate(const json& pod, const SaSettings& sa, const MutationConfig& cfg = {}) {
  return mutate_pod(pod, "ns", sa, cfg, fixed(1));
}

json patched(const json& pod, const SaSettings& sa, const MutationConfig& cfg = {}) {
  const MutationResult r = mutate(pod, sa, cfg);
  REQUIRE_FALSE(r.skip.has_value());
  return pod.patch(r.patch);
}

const json* env_of(const json& container, const std::string& name) {
  const auto env = container.find("env");
  if (env == container.end()) return nullptr;
  for (const auto& e : *env) {
    if (e.value("name", "") == name) return &e;
  }
  return nullptr;
}

std::string env_value(const json& container, const std::string& name) {
  const json* e = env_of(container, name);
  return e == nullptr ? "" : e->value("value", "");
}

std::int64_t expiration_of(const json& pod) {
  for (const auto& v : pod["spec"]["volumes"]) {
    if (v["name"] == "aws-iam-token") {
      return v["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"];
    }
  }
  FAIL("no aws-iam-token volume");
  return 0;
}

bool has_warning(const MutationResult& r, const std::string& fragment) {
  for (const auto& w : r.warnings) {
    if (w.find(fragment) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("parse_int64 reads what Go's strconv.ParseInt(s, 10, 64) reads") {
  CHECK(parse_int64("600") == 600);
  CHECK(parse_int64("+600") == 600);
  CHECK(parse_int64("-5") == -5);
  CHECK(parse_int64("0") == 0);
  CHECK(parse_int64("-0") == 0);
  CHECK(parse_int64("007") == 7);
  CHECK(parse_int64("9223372036854775807") == std::numeric_limits<std::int64_t>::max());
  CHECK(parse_int64("-9223372036854775808") == std::numeric_limits<std::int64_t>::min());
  for (const char* bad :
       {"", "+", "-", " 600", "600 ", "6_00", "1h", "0x10", "1e3", "60.0", "9223372036854775808",
        "-9223372036854775809", "99999999999999999999999", "++1", "٣"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_int64(bad).has_value());
  }
}

TEST_CASE("token expiration: EKS's minimum and fallback, clamped at 86400") {
  std::string warning;
  CHECK(read_token_expiration("3600", "k", warning) == 3600);
  CHECK(warning.empty());
  CHECK(read_token_expiration("600", "k", warning) == 600);
  CHECK(read_token_expiration("86400", "k", warning) == 86400);
  CHECK(warning.empty());
  for (const auto& [value, used] :
       std::vector<std::pair<const char*, std::int64_t>>{{"0", 600},
                                                         {"599", 600},
                                                         {"-1", 600},
                                                         {"86401", 86400},
                                                         {"172800", 86400},
                                                         {"9223372036854775807", 86400}}) {
    CAPTURE(value);
    warning.clear();
    CHECK(read_token_expiration(value, "eks.amazonaws.com/token-expiration", warning) == used);
    CHECK(warning.find("out of range, using " + std::to_string(used)) != std::string::npos);
    CHECK(warning.starts_with("eks.amazonaws.com/token-expiration "));
  }
  warning.clear();
  CHECK_FALSE(read_token_expiration("1h", "k", warning).has_value());
  CHECK(warning.find("not a number") != std::string::npos);
  warning.clear();
  CHECK_FALSE(read_token_expiration(std::string(5000, 'x'), "k", warning).has_value());
  CHECK(warning.size() < 100);  // the value is cut in the warning
}

TEST_CASE("the projected volume and the token file") {
  CHECK(projected_token_volume("aws-iam-token", "sts.amazonaws.com", 86400) ==
        json::parse(R"({"name":"aws-iam-token","projected":{"sources":[{"serviceAccountToken":
          {"audience":"sts.amazonaws.com","expirationSeconds":86400,"path":"token"}}]}})"));
  CHECK(is_projected_token_volume(projected_token_volume("x", "a", 600)));
  for (const char* other :
       {R"({"name":"aws-iam-token","hostPath":{"path":"/t"}})",
        R"({"name":"v","projected":{"sources":[{"configMap":{"name":"c"}}]}})",
        R"({"name":"v","projected":{"sources":[{"serviceAccountToken":{"path":"other"}}]}})",
        R"({"name":"v","projected":{"sources":{}}})", R"({"name":"v","projected":1})", "[]"}) {
    CAPTURE(other);
    CHECK_FALSE(is_projected_token_volume(json::parse(other)));
  }
  CHECK(kubernetes_token_file(false) == kTokenFile);
  CHECK(kubernetes_token_file(true) ==
        R"(C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token)");
}

TEST_CASE("settings: eks.amazonaws.com annotations choose the Kubernetes source") {
  SaSettings sa = eks({{"eks.amazonaws.com/audience", "vault"},
                       {"eks.amazonaws.com/token-expiration", "3600"},
                       {"eks.amazonaws.com/sts-regional-endpoints", "true"},
                       {"gtoken.io/region", "eu-west-1"},
                       {"gtoken.io/containers", "app"},
                       // The Google source's keys mean nothing here.
                       {"gtoken.io/audience", "ignored"},
                       {"gtoken.io/token-expiration", "900"}});
  CHECK(sa.token_source == TokenSource::Kubernetes);
  CHECK(sa.role_arn == kArn);
  CHECK(sa.audience == "vault");
  CHECK(sa.token_expiration_seconds == 3600);
  CHECK(sa.sts_regional_endpoints == true);
  CHECK(sa.region == "eu-west-1");
  CHECK(sa.containers == std::vector<std::string>{"app"});
  CHECK(sa.warnings.empty());

  // Unusable values: dropped (the default applies) or clamped, each with a warning.
  sa = eks({{"eks.amazonaws.com/token-expiration", "1d"},
            {"eks.amazonaws.com/sts-regional-endpoints", "yes"}});
  CHECK_FALSE(sa.token_expiration_seconds.has_value());
  CHECK_FALSE(sa.sts_regional_endpoints.has_value());
  CHECK(sa.warnings.size() == 2);
  sa = eks({{"eks.amazonaws.com/token-expiration", "60"},
            {"eks.amazonaws.com/sts-regional-endpoints", "False"}});
  CHECK(sa.token_expiration_seconds == 600);
  CHECK(sa.sts_regional_endpoints == false);
  CHECK(sa.warnings.size() == 1);
  // An empty audience would be the apiserver's own: the default instead.
  sa = eks({{"eks.amazonaws.com/audience", " "}});
  CHECK_FALSE(sa.audience.has_value());
  // No ARN, no source.
  CHECK(settings_from_service_account(sa_with({{"eks.amazonaws.com/role-arn", ""}}))
            .role_arn.empty());
}

TEST_CASE("settings: both role annotations, one deterministic answer and a warning") {
  const json both = {{"amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/google"},
                     {"eks.amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/eks"},
                     {"gtoken.io/audience", "g-aud"},
                     {"eks.amazonaws.com/audience", "k-aud"}};
  SaSettings sa = settings_from_service_account(sa_with(both));
  CHECK(sa.token_source == TokenSource::Kubernetes);
  CHECK(sa.role_arn == "arn:aws:iam::123456789012:role/eks");
  CHECK(sa.audience == "k-aud");
  REQUIRE(sa.warnings.size() == 1);
  CHECK(sa.warnings[0].find("Kubernetes token used") != std::string::npos);

  json with_gsa = both;
  with_gsa["iam.gke.io/gcp-service-account"] = "app@p.iam.gserviceaccount.com";
  sa = settings_from_service_account(sa_with(with_gsa));
  CHECK(sa.token_source == TokenSource::Google);
  CHECK(sa.role_arn == "arn:aws:iam::123456789012:role/google");
  CHECK(sa.audience == "g-aud");
  REQUIRE(sa.warnings.size() == 1);
  CHECK(sa.warnings[0].find("Google token used") != std::string::npos);

  // The warning reaches the user whole (the apiserver's limit is 120).
  for (const auto& annotations : {both, with_gsa}) {
    const MutationResult r =
        mutate(simple_pod(), settings_from_service_account(sa_with(annotations)));
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].starts_with("gtoken: "));
    CHECK(r.warnings[0].size() < 120);
  }
}

TEST_CASE("mutate: projected token, mount, env; no agent") {
  const json out = patched(simple_pod(), eks());
  CHECK_FALSE(out["spec"].contains("initContainers"));
  REQUIRE(out["spec"]["volumes"].size() == 1);
  CHECK(out["spec"]["volumes"][0] ==
        projected_token_volume("aws-iam-token", "sts.amazonaws.com", 86400));
  const json& app = out["spec"]["containers"][0];
  CHECK(app["volumeMounts"] ==
        json::array({{{"name", "aws-iam-token"}, {"mountPath", kMountPath}, {"readOnly", true}}}));
  CHECK(env_value(app, "AWS_WEB_IDENTITY_TOKEN_FILE") == kTokenFile);
  CHECK(env_value(app, "AWS_ROLE_ARN") == kArn);
  CHECK(env_value(app, "AWS_ROLE_SESSION_NAME") == "ns.app");
  CHECK(env_of(app, "AWS_REGION") == nullptr);
  CHECK(env_of(app, "AWS_STS_REGIONAL_ENDPOINTS") == nullptr);
  CHECK(mutate(out, eks()).skip == SkipReason::AlreadyInjected);
}

TEST_CASE("mutate: token expiration, pod annotation over ServiceAccount over 86400") {
  const auto with_pod_annotation = [](const char* value) {
    json pod = simple_pod();
    pod["metadata"]["annotations"] = {{"eks.amazonaws.com/token-expiration", value}};
    return pod;
  };
  CHECK(expiration_of(patched(simple_pod(), eks())) == 86400);
  const SaSettings sa3600 = eks({{"eks.amazonaws.com/token-expiration", "3600"}});
  CHECK(expiration_of(patched(simple_pod(), sa3600)) == 3600);
  CHECK(expiration_of(patched(with_pod_annotation("7200"), sa3600)) == 7200);
  CHECK(expiration_of(patched(with_pod_annotation("0"), sa3600)) == 600);
  CHECK(expiration_of(patched(with_pod_annotation("100000"), sa3600)) == 86400);
  // Unusable on the pod: the ServiceAccount's value, as the EKS webhook.
  CHECK(expiration_of(patched(with_pod_annotation("2h"), sa3600)) == 3600);
  CHECK(expiration_of(patched(with_pod_annotation("2h"), eks())) == 86400);
  const MutationResult r = mutate(with_pod_annotation("2h"), sa3600);
  CHECK(has_warning(r, "not a number of seconds"));
  // Empty: as if absent, no warning.
  CHECK(mutate(with_pod_annotation(" "), sa3600).warnings.empty());
  // A binding's settings (not read from annotations) are bounded too.
  SaSettings direct = eks();
  direct.token_expiration_seconds = 5;
  CHECK(expiration_of(patched(simple_pod(), direct)) == 600);
  // The pod annotation means nothing for the Google source.
  SaSettings google;
  google.role_arn = kArn;
  const json out = patched(with_pod_annotation("7200"), google);
  CHECK(out["spec"]["volumes"][0].contains("emptyDir"));
}

TEST_CASE("mutate: region and regional STS") {
  const auto env_after = [](const SaSettings& sa, const MutationConfig& cfg = {}) {
    return patched(simple_pod(), sa, cfg)["spec"]["containers"][0];
  };
  json app = env_after(eks({{"eks.amazonaws.com/sts-regional-endpoints", "true"}}));
  CHECK(env_value(app, "AWS_STS_REGIONAL_ENDPOINTS") == "regional");
  CHECK(env_of(app, "AWS_REGION") == nullptr);

  app = env_after(eks({{"gtoken.io/region", "eu-west-1"}}));
  CHECK(env_value(app, "AWS_REGION") == "eu-west-1");
  CHECK(env_value(app, "AWS_DEFAULT_REGION") == "eu-west-1");
  CHECK(env_value(app, "AWS_STS_REGIONAL_ENDPOINTS") == "regional");

  app = env_after(eks(
      {{"gtoken.io/region", "eu-west-1"}, {"eks.amazonaws.com/sts-regional-endpoints", "false"}}));
  CHECK(env_value(app, "AWS_REGION") == "eu-west-1");
  CHECK(env_of(app, "AWS_STS_REGIONAL_ENDPOINTS") == nullptr);

  MutationConfig cfg;
  cfg.default_region = "ap-south-1";
  app = env_after(eks(), cfg);
  CHECK(env_value(app, "AWS_REGION") == "ap-south-1");
  CHECK(env_value(app, "AWS_STS_REGIONAL_ENDPOINTS") == "regional");
  app = env_after(eks({{"gtoken.io/region", "eu-west-1"}}), cfg);
  CHECK(env_value(app, "AWS_REGION") == "eu-west-1");
  // The default region serves the Google source too.
  SaSettings google;
  google.role_arn = kArn;
  app = env_after(google, cfg);
  CHECK(env_value(app, "AWS_DEFAULT_REGION") == "ap-south-1");
}

TEST_CASE("mutate: Windows and hostNetwork pods are injected (the kubelet writes the token)") {
  json pod = simple_pod();
  pod["spec"]["nodeSelector"] = {{"beta.kubernetes.io/os", "windows"}};
  pod["spec"]["hostNetwork"] = true;
  json app = patched(pod, eks())["spec"]["containers"][0];
  CHECK(env_value(app, "AWS_WEB_IDENTITY_TOKEN_FILE") == kubernetes_token_file(true));
  CHECK(app["volumeMounts"][0]["mountPath"] == kMountPath);
  pod = simple_pod();
  pod["spec"]["os"] = {{"name", "windows"}};
  app = patched(pod, eks())["spec"]["containers"][0];
  CHECK(env_value(app, "AWS_WEB_IDENTITY_TOKEN_FILE") == kubernetes_token_file(true));
  // The Google source still skips them, the beta label included.
  SaSettings google;
  google.role_arn = kArn;
  pod = simple_pod();
  pod["spec"]["nodeSelector"] = {{"beta.kubernetes.io/os", "windows"}};
  CHECK(mutate(pod, google).skip == SkipReason::WindowsNotSupported);
}

TEST_CASE("mutate: a container named like the agent is the user's under this source") {
  json pod = simple_pod();
  pod["spec"]["containers"].push_back({{"name", "gtoken"}, {"image", "mine"}});
  const json out = patched(pod, eks());
  CHECK(env_value(out["spec"]["containers"][1], "AWS_ROLE_ARN") == kArn);
}

TEST_CASE("mutate: both skip annotations for this source, only gtoken's for the Google one") {
  json pod = simple_pod();
  for (const char* name : {"a", "b", "c"}) {
    pod["spec"]["containers"].push_back({{"name", name}, {"image", "x"}});
  }
  pod["metadata"]["annotations"] = {{"eks.amazonaws.com/skip-containers", "a,b"},
                                    {"gtoken.io/skip-containers", "c"}};
  json out = patched(pod, eks());
  std::set<std::string> injected;
  for (const auto& c : out["spec"]["containers"]) {
    if (env_of(c, "AWS_ROLE_ARN") != nullptr) injected.insert(c["name"].get<std::string>());
  }
  CHECK(injected == std::set<std::string>{"app"});

  SaSettings google;
  google.role_arn = kArn;
  out = patched(pod, google);
  injected.clear();
  for (const auto& c : out["spec"]["containers"]) {
    if (env_of(c, "AWS_ROLE_ARN") != nullptr) injected.insert(c["name"].get<std::string>());
  }
  CHECK(injected == std::set<std::string>{"app", "a", "b"});

  pod["metadata"]["annotations"] = {{"eks.amazonaws.com/skip-containers", "app,a,b,c"}};
  const MutationResult none = mutate(pod, eks());
  CHECK(none.skip == SkipReason::NoContainerSelected);
  CHECK(none.patch.empty());
}

TEST_CASE("mutate: a volume already named aws-iam-token is kept") {
  json pod = simple_pod();
  pod["spec"]["volumes"] = json::array({projected_token_volume("aws-iam-token", "mine", 3600)});
  MutationResult r = mutate(pod, eks());
  REQUIRE_FALSE(r.skip.has_value());
  CHECK(r.warnings.empty());
  json out = pod.patch(r.patch);
  CHECK(out["spec"]["volumes"].size() == 1);
  CHECK(expiration_of(out) == 3600);

  pod["spec"]["volumes"] = json::array({{{"name", "aws-iam-token"}, {"emptyDir", json::object()}}});
  r = mutate(pod, eks());
  CHECK(has_warning(r, "not a projected ServiceAccount token"));
  out = pod.patch(r.patch);
  CHECK(out["spec"]["volumes"].size() == 1);
  CHECK(out["spec"]["containers"][0]["volumeMounts"][0]["name"] == "aws-iam-token");
}

TEST_CASE("mutate: another volume at the mount path leaves that container alone") {
  json pod = simple_pod();
  pod["spec"]["containers"].push_back(
      {{"name", "own"},
       {"image", "x"},
       {"volumeMounts", json::array({{{"name", "mine"}, {"mountPath", kMountPath}}})}});
  pod["spec"]["volumes"] = json::array({{{"name", "mine"}, {"emptyDir", json::object()}}});
  const MutationResult r = mutate(pod, eks());
  CHECK(has_warning(r, "container \"own\" already mounts"));
  const json out = pod.patch(r.patch);
  CHECK(env_of(out["spec"]["containers"][1], "AWS_ROLE_ARN") == nullptr);
  CHECK(env_value(out["spec"]["containers"][0], "AWS_ROLE_ARN") == kArn);
}

TEST_CASE("mutate: reinvocation patches only a new container, with the same random name") {
  json pod = simple_pod();
  pod["metadata"] = {{"generateName", std::string(70, 'g')}};
  std::uint32_t n = 0;
  const MutationResult first = mutate_pod(pod, "ns", eks(), {}, [&n] { return n++; });
  json out = pod.patch(first.patch);
  const std::string session = env_value(out["spec"]["containers"][0], "AWS_ROLE_SESSION_NAME");
  CHECK(is_valid_session_name(session));
  CHECK(mutate_pod(out, "ns", eks(), {}, fixed(9)).skip == SkipReason::AlreadyInjected);
  out["spec"]["containers"].push_back({{"name", "late"}, {"image", "y"}});
  const MutationResult second = mutate_pod(out, "ns", eks(), {}, fixed(9));
  for (const auto& op : second.patch) {
    CHECK(op["path"].get<std::string>().starts_with("/spec/containers/1/"));
  }
  out = out.patch(second.patch);
  CHECK(env_value(out["spec"]["containers"][1], "AWS_ROLE_SESSION_NAME") == session);
}

TEST_CASE("mutate: opt-out and an invalid ARN hold for this source too") {
  json pod = simple_pod();
  pod["metadata"]["annotations"] = {{"gtoken.io/inject", "false"}};
  CHECK(mutate(pod, eks()).skip == SkipReason::PodOptOut);
  const SaSettings bad = settings_from_service_account(
      sa_with({{"eks.amazonaws.com/role-arn", "arn:aws:iam::123:role/x"}}));
  CHECK(bad.token_source == TokenSource::Kubernetes);
  const MutationResult r = mutate(simple_pod(), bad);
  CHECK(r.skip == SkipReason::InvalidRoleArn);
  CHECK(r.patch.empty());
}
