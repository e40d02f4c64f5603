// Unit tests of the pieces under mutate_pod; whole-pod behaviour is in the
// golden tests (webhook_golden_test.cpp).

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "webhook/json_patch.hpp"
#include "webhook/mutate.hpp"
#include "webhook/text.hpp"

namespace {

using namespace gtoken::webhook;
using nlohmann::json;

json sa_with(json annotations) {
  return {{"metadata", {{"name", "app"}, {"annotations", std::move(annotations)}}}};
}

json simple_pod() {
  return {{"metadata", {{"name", "app"}}},
          {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "app:1"}}})}}}};
}

SaSettings bound() {
  SaSettings sa;
  sa.role_arn = "arn:aws:iam::123456789012:role/app";
  return sa;
}

RandomSource fixed(std::uint32_t value) {
  return [value] { return value; };
}

}  // namespace

TEST_CASE("settings_from_service_account reads the annotations") {
  const SaSettings sa = settings_from_service_account(
      sa_with({{"amazonaws.com/role-arn", " arn:aws:iam::123456789012:role/app "},
               {"gtoken.io/audience", "sts.amazonaws.com"},
               {"gtoken.io/region", "us-west-2"},
               {"gtoken.io/token-expiration", "900"},
               {"gtoken.io/containers", "api, worker"}}));
  CHECK(sa.token_source == TokenSource::Google);
  CHECK(sa.role_arn == "arn:aws:iam::123456789012:role/app");
  CHECK(sa.audience == "sts.amazonaws.com");
  CHECK(sa.region == "us-west-2");
  CHECK(sa.token_expiration_seconds == 900);
  CHECK(sa.containers == std::vector<std::string>{"api", "worker"});
  CHECK(sa.warnings.empty());
}

TEST_CASE("settings_from_service_account drops unusable values with a warning") {
  SaSettings sa = settings_from_service_account(sa_with({{"amazonaws.com/role-arn", ""},
                                                         {"gtoken.io/region", "US East 1"},
                                                         {"gtoken.io/token-expiration", "1h"}}));
  CHECK(sa.role_arn.empty());
  CHECK_FALSE(sa.region.has_value());
  CHECK_FALSE(sa.token_expiration_seconds.has_value());
  CHECK(sa.warnings.size() == 2);

  sa = settings_from_service_account(sa_with({{"gtoken.io/token-expiration", "86400"}}));
  CHECK(sa.token_expiration_seconds == kMaxTokenExpirationSeconds);
  CHECK(sa.warnings.size() == 1);
  sa = settings_from_service_account(sa_with({{"gtoken.io/token-expiration", "60"}}));
  CHECK(sa.token_expiration_seconds == kMinTokenExpirationSeconds);
  CHECK(sa.warnings.size() == 1);

  // Shapes that are not a ServiceAccount give empty settings, never throw.
  for (const json& odd : {json(), json::array(), json("sa"), json{{"metadata", 1}},
                          json{{"metadata", {{"annotations", json::array()}}}},
                          sa_with({{"amazonaws.com/role-arn", 5}}),
                          sa_with({{"eks.amazonaws.com/role-arn", json::object()}})}) {
    CHECK(settings_from_service_account(odd).role_arn.empty());
  }
}

TEST_CASE("role ARNs") {
  for (const char* arn :
       {"arn:aws:iam::123456789012:role/app", "arn:aws-cn:iam::123456789012:role/path/to/app",
        "arn:aws-us-gov:iam::123456789012:role/a+b=c,d.e@f-g_h"}) {
    CAPTURE(arn);
    CHECK(is_valid_role_arn(arn));
  }
  for (const char* arn :
       {"", "arn:aws:iam::123456789012:user/app", "arn:aws:iam::12345:role/app",
        "arn:aws:iam::123456789012:role/", "arn:aws:iam::123456789012:role/a/",
        "arn:aws:sts::123456789012:role/app", "arn:gcp:iam::123456789012:role/a",
        "arn:aws:iam::123456789012:role/a b", "role/app", "arn:aws:iam::1234567890123:role/app"}) {
    CAPTURE(arn);
    CHECK_FALSE(is_valid_role_arn(arn));
  }
  CHECK_FALSE(is_valid_role_arn("arn:aws:iam::123456789012:role/" + std::string(2100, 'a')));
}

TEST_CASE("session names") {
  CHECK(is_valid_session_name("ns.pod-1"));
  CHECK(is_valid_session_name("a+b=c,d.e@f_g-h"));
  CHECK_FALSE(is_valid_session_name("x"));
  CHECK_FALSE(is_valid_session_name(std::string(65, 'a')));
  CHECK_FALSE(is_valid_session_name("a/b"));
  CHECK(sanitize_session_name("a/b c:d") == "a-b-c-d");

  const std::string a = shorten_with_hash(std::string(80, 'x') + "-0", 64);
  const std::string b = shorten_with_hash(std::string(80, 'x') + "-1", 64);
  CHECK(a.size() == 64);
  CHECK(a != b);
  CHECK(is_valid_session_name(a));
  CHECK(shorten_with_hash("fits", 64) == "fits");
  CHECK(shorten_with_hash(std::string(40, 'y'), 5).size() == 5);

  const std::set<char> alphabet{'b', 'c', 'd', 'f', 'g', 'h', 'j', 'k', 'l',
                                'm', 'n', 'p', 'q', 'r', 's', 't', 'v', 'w',
                                'x', 'z', '2', '4', '5', '6', '7', '8', '9'};
  std::uint32_t n = 0;
  const std::string suffix = random_suffix([&n] { return n++; });
  CHECK(suffix == "bcdfg");
  for (char c : random_suffix({})) CHECK(alphabet.count(c) == 1);  // empty source: still works
}

TEST_CASE("session name plans") {
  SessionNamePlan plan = plan_session_name("shop", "cart-0", "");
  CHECK(plan.kind == SessionNamePlan::Kind::Literal);
  CHECK(plan.text == "shop.cart-0");

  plan = plan_session_name("shop", "", "cart-7d9f8c6b5-");
  CHECK(plan.kind == SessionNamePlan::Kind::PodNameAtRuntime);
  CHECK(plan.text == "shop.");

  // The longest runtime form: "ns" + "." + 56 + 5 random = 64 exactly.
  plan = plan_session_name("ns", "", std::string(56, 'g'));
  CHECK(plan.kind == SessionNamePlan::Kind::PodNameAtRuntime);
  plan = plan_session_name("ns", "", std::string(57, 'g'));
  CHECK(plan.kind == SessionNamePlan::Kind::RandomSuffix);
  CHECK(plan.text.size() + kGeneratedSuffixLength == kMaxSessionNameLength);
  plan = plan_session_name("nn", "", std::string(80, 'g'));
  CHECK(plan.kind == SessionNamePlan::Kind::RandomSuffix);
  CHECK(plan.text.size() + kGeneratedSuffixLength <= kMaxSessionNameLength);
  CHECK(is_valid_session_name(plan.text + "bbbbb"));

  plan = plan_session_name("", "", "");
  CHECK(plan.kind == SessionNamePlan::Kind::PodNameAtRuntime);
  plan = plan_session_name("", "x", "");
  CHECK(is_valid_session_name(plan.text));
}

TEST_CASE("JSON Pointer tokens are escaped per RFC 6901") {
  CHECK(escape_pointer_token("a/b~c") == "a~1b~0c");
  CHECK(escape_pointer_token("~1") == "~01");
  CHECK(pointer({"metadata", "annotations", "gtoken.io/inject"}) ==
        "/metadata/annotations/gtoken.io~1inject");
  CHECK(pointer({"spec", "containers", std::size_t{3}, "env", "-"}) == "/spec/containers/3/env/-");
  // Round trip through nlohmann's own pointer parser.
  const json doc = {{"a/b~c", 1}};
  CHECK(doc.at(json::json_pointer(pointer({"a/b~c"}))) == 1);
}

TEST_CASE("text helpers") {
  CHECK(split_list(" a, b,,c ,") == std::vector<std::string>{"a", "b", "c"});
  CHECK(split_list("").empty());
  CHECK(parse_bool("False") == false);
  CHECK(parse_bool("1") == true);
  CHECK_FALSE(parse_bool("no").has_value());
  CHECK(trim("  x ") == "x");
}

TEST_CASE("should_skip_namespace") {
  CHECK(should_skip_namespace(json::object(), "gtoken-system", "gtoken-system") ==
        SkipReason::OperatorNamespace);
  CHECK(should_skip_namespace({{"admission.gtoken/ignore", "true"}}, "a", "gtoken-system") ==
        SkipReason::IgnoredNamespace);
  // The seed's label counts by presence, whatever its value.
  CHECK(should_skip_namespace({{"admission.gtoken/ignore", ""}}, "a", "b") ==
        SkipReason::IgnoredNamespace);
  CHECK_FALSE(should_skip_namespace(json(), "a", "b").has_value());
  CHECK_FALSE(should_skip_namespace({{"other", "x"}}, "a", "").has_value());
}

TEST_CASE("skip reasons have CamelCase names") {
  for (auto reason : {SkipReason::NoRoleAnnotation, SkipReason::PodOptOut,
                      SkipReason::AlreadyInjected, SkipReason::IgnoredNamespace,
                      SkipReason::OperatorNamespace, SkipReason::ServiceAccountNotFound,
                      SkipReason::WindowsNotSupported, SkipReason::UnsupportedRequest}) {
    const auto name = to_string(reason);
    CHECK(is_upper(name.front()));
    CHECK(name.find_first_of(" _-") == std::string_view::npos);
  }
  CHECK(to_string(SkipReason::AlreadyInjected) == "AlreadyInjected");
}

TEST_CASE("malformed pods are skipped as InvalidPod, never thrown on") {
  const MutationConfig cfg;
  std::vector<json> pods;
  pods.push_back(json());
  pods.push_back(json::array());
  pods.push_back({{"spec", "x"}});
  pods.push_back({{"metadata", 1}, {"spec", {{"containers", json::array()}}}});
  pods.push_back({{"metadata", {{"annotations", "x"}}}, {"spec", {{"containers", json::array()}}}});
  for (const json& containers :
       {json("x"), json::array({1}), json::array({json::object()}), json::array({{{"name", 1}}}),
        json::array({{{"name", ""}}}), json::array({{{"name", "a"}, {"env", json::object()}}}),
        json::array({{{"name", "a"}, {"env", json::array({{{"value", "x"}}})}}}),
        json::array({{{"name", "a"}, {"volumeMounts", json::array({{{"name", "v"}}})}}}),
        json::array({{{"name", "a"}, {"volumeMounts", json::array({{{"mountPath", "/p"}}})}}})}) {
    pods.push_back({{"spec", {{"containers", containers}}}});
    pods.push_back({{"spec", {{"containers", json::array()}, {"initContainers", containers}}}});
  }
  pods.push_back({{"spec", {{"containers", json::array()}, {"volumes", json::object()}}}});
  pods.push_back({{"spec", {{"containers", json::array()}, {"volumes", json::array({1})}}}});
  for (const json& pod : pods) {
    CAPTURE(pod.dump());
    MutationResult r;
    CHECK_NOTHROW(r = mutate_pod(pod, "ns", bound(), cfg, fixed(1)));
    CHECK(r.skip == SkipReason::InvalidPod);
    CHECK(r.patch.empty());
  }
}

TEST_CASE("odd but valid shapes: null lists and non-string annotations") {
  const MutationConfig cfg;
  json pod = simple_pod();
  pod["spec"]["volumes"] = nullptr;
  pod["spec"]["initContainers"] = nullptr;
  pod["spec"]["containers"][0]["env"] = nullptr;
  pod["metadata"]["annotations"] = {{"gtoken.io/inject", 1}};
  const MutationResult r = mutate_pod(pod, "ns", bound(), cfg, fixed(1));
  REQUIRE_FALSE(r.skip.has_value());
  const json out = pod.patch(r.patch);
  CHECK(out["spec"]["volumes"].size() == 1);
  CHECK(out["spec"]["initContainers"].size() == 1);
  CHECK(mutate_pod(out, "ns", bound(), cfg, fixed(1)).skip == SkipReason::AlreadyInjected);
}

TEST_CASE("inject annotation: Go booleans; anything else warns and injects") {
  const MutationConfig cfg;
  for (const char* off : {"false", "False", "0", "f"}) {
    json pod = simple_pod();
    pod["metadata"]["annotations"] = {{"gtoken.io/inject", off}};
    CHECK(mutate_pod(pod, "ns", bound(), cfg, fixed(1)).skip == SkipReason::PodOptOut);
  }
  json pod = simple_pod();
  pod["metadata"]["annotations"] = {{"gtoken.io/inject", "nope"}};
  MutationResult r = mutate_pod(pod, "ns", bound(), cfg, fixed(1));
  CHECK_FALSE(r.skip.has_value());
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("not a boolean") != std::string::npos);
  pod["metadata"]["annotations"] = {{"gtoken.io/inject", "true"}};
  r = mutate_pod(pod, "ns", bound(), cfg, fixed(1));
  CHECK_FALSE(r.skip.has_value());
  CHECK(r.warnings.empty());
}

TEST_CASE("spec.os windows is skipped like the node selector") {
  json pod = simple_pod();
  pod["spec"]["os"] = {{"name", "windows"}};
  CHECK(mutate_pod(pod, "ns", bound(), MutationConfig{}, fixed(1)).skip ==
        SkipReason::WindowsNotSupported);
}

TEST_CASE("a user container with the agent's name is a conflict, not ours") {
  json pod = simple_pod();
  pod["spec"]["containers"].push_back({{"name", "gtoken"}, {"image", "something-else"}});
  const MutationResult r = mutate_pod(pod, "ns", bound(), MutationConfig{}, fixed(1));
  CHECK(r.skip == SkipReason::ContainerNameConflict);
  CHECK(r.warnings.size() == 1);
}

TEST_CASE("a user variable named like the pod-name helper is not expanded into the session") {
  json pod = simple_pod();
  pod["metadata"] = {{"generateName", "app-"}};
  pod["spec"]["containers"][0]["env"] =
      json::array({{{"name", "GTOKEN_POD_NAME"}, {"value", "x"}}});
  const MutationResult r = mutate_pod(pod, "ns", bound(), MutationConfig{}, fixed(0));
  const json out = pod.patch(r.patch);
  std::string session;
  for (const auto& e : out["spec"]["containers"][0]["env"]) {
    if (e["name"] == "AWS_ROLE_SESSION_NAME") session = e["value"];
  }
  CHECK(session == "ns.app-bbbbb");
}

TEST_CASE("the random session name is drawn once per pod and reused on reinvocation") {
  const MutationConfig cfg;
  json pod = simple_pod();
  pod["metadata"] = {{"generateName", std::string(70, 'g')}};
  pod["spec"]["containers"].push_back({{"name", "second"}, {"image", "x"}});
  std::uint32_t n = 0;
  const MutationResult first = mutate_pod(pod, "ns", bound(), cfg, [&n] { return n++; });
  CHECK(n == kGeneratedSuffixLength);  // one draw for both containers
  json out = pod.patch(first.patch);
  out["spec"]["containers"].push_back({{"name", "late"}, {"image", "y"}});
  const MutationResult second = mutate_pod(out, "ns", bound(), cfg, fixed(5));
  out = out.patch(second.patch);
  std::set<std::string> sessions;
  for (const auto& c : out["spec"]["containers"]) {
    for (const auto& e : c.value("env", json::array())) {
      if (e["name"] == "AWS_ROLE_SESSION_NAME") sessions.insert(e["value"].get<std::string>());
    }
  }
  CHECK(sessions.size() == 1);
}

TEST_CASE("config: custom names and paths, no resources, escaping in the patch") {
  MutationConfig cfg;
  cfg.token_mount_path = "/aws/";
  cfg.volume_name = "tok";
  cfg.agent_resources = AgentResources{ResourceAmounts{}, ResourceAmounts{}};
  cfg.volume_size_limit = "";
  const MutationResult r = mutate_pod(simple_pod(), "ns", bound(), cfg, fixed(1));
  const json out = simple_pod().patch(r.patch);
  const json& agent = out["spec"]["initContainers"][0];
  CHECK_FALSE(agent.contains("resources"));
  CHECK(agent["args"][0] == "--file=/aws/gtoken");
  CHECK(out["spec"]["volumes"][0] == json{{"name", "tok"}, {"emptyDir", {{"medium", "Memory"}}}});
  CHECK(out["spec"]["containers"][0]["env"][0]["value"] == "/aws/gtoken");
}

TEST_CASE("the agent's pull policy is left out when the apiserver would default it the same") {
  // SetDefaults_Container: Always for :latest or an untagged, unpinned image, else IfNotPresent.
  const auto policy = [](const std::string& image, const std::string& pull) {
    MutationConfig cfg;
    cfg.agent_image = image;
    cfg.image_pull_policy = pull;
    const MutationResult r = mutate_pod(simple_pod(), "ns", bound(), cfg, fixed(1));
    const json agent = simple_pod().patch(r.patch)["spec"]["initContainers"][0];
    REQUIRE(agent["image"] == image);
    return agent.value("imagePullPolicy", std::string("(defaulted)"));
  };
  CHECK(policy("registry.example:5000/gtoken:v1.2", "IfNotPresent") == "(defaulted)");
  CHECK(policy("gtoken@sha256:0123abcd", "IfNotPresent") == "(defaulted)");
  CHECK(policy("registry.example:5000/gtoken:v1@sha256:0123abcd", "IfNotPresent") == "(defaulted)");
  CHECK(policy("gtoken:latest", "Always") == "(defaulted)");
  CHECK(policy("registry.example:5000/gtoken", "Always") == "(defaulted)");  // a port, no tag
  CHECK(policy("gtoken:latest", "IfNotPresent") == "IfNotPresent");
  CHECK(policy("registry.example:5000/gtoken", "IfNotPresent") == "IfNotPresent");
  CHECK(policy("gtoken:v1", "Always") == "Always");
  CHECK(policy("gtoken:v1", "Never") == "Never");
}

TEST_CASE("classic mode on a pod without a containers list still gives a patch that applies") {
  // Found by the fuzzer: validation runs after mutating admission, so such a pod can arrive.
  MutationConfig cfg;
  cfg.native_sidecars = false;
  const json pod = {{"metadata", {{"name", "p"}}},
                    {"spec", {{"initContainers", json::array({{{"name", "init"}}})}}}};
  const MutationResult r = mutate_pod(pod, "ns", bound(), cfg, fixed(1));
  REQUIRE_FALSE(r.skip.has_value());
  json out;
  REQUIRE_NOTHROW(out = pod.patch(r.patch));
  CHECK(out["spec"]["containers"][0]["name"] == "gtoken");
  CHECK(mutate_pod(out, "ns", bound(), cfg, fixed(1)).patch.empty());
}

TEST_CASE("token expiration becomes the agent's --refresh-before") {
  SaSettings sa = bound();
  const auto refresh_args = [&] {
    const MutationResult r = mutate_pod(simple_pod(), "ns", sa, MutationConfig{}, fixed(1));
    const json out = simple_pod().patch(r.patch);
    std::vector<std::string> args;
    for (const auto& a : out["spec"]["initContainers"][0]["args"]) {
      if (a.get<std::string>().starts_with("--refresh-before")) args.push_back(a);
    }
    return args;
  };
  CHECK(refresh_args().empty());
  sa.token_expiration_seconds = 900;
  CHECK(refresh_args() == std::vector<std::string>{"--refresh-before=2700s"});
  sa.token_expiration_seconds = 3600;  // the token's own lifetime: nothing to add
  CHECK(refresh_args().empty());
  sa.token_expiration_seconds = 10;  // clamped to 600
  CHECK(refresh_args() == std::vector<std::string>{"--refresh-before=3000s"});
  sa.token_expiration_seconds = 999999;
  CHECK(refresh_args().empty());
}
