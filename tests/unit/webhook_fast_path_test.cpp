// The fast path of /mutate against the reference: decoding only the pod view
// (webhook/pod_view.hpp) must give review_pod the same decision as decoding
// the whole AdmissionReview; the patch the mutation writes as text
// (mutate_pod_text) must be the bytes of nlohmann's dump of the patch the
// reference mutate_pod builds as a document; and the answer written as text
// (webhook/review_writer.hpp) must be the bytes nlohmann's dump of the
// response object gives. Checked on the whole golden corpus and on thousands
// of seeded random pods, each wrapped in a review with the fields a real
// apiserver sends beside the ones the review reads.

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kube/base64.hpp"
#include "tests/unit/webhook_golden_cases.hpp"
#include "tests/unit/webhook_yaml.hpp"
#include "webhook/admission.hpp"
#include "webhook/annotations.hpp"
#include "webhook/mutate.hpp"
#include "webhook/pod_review.hpp"
#include "webhook/review_writer.hpp"

namespace {

namespace wh = gtoken::webhook;
using nlohmann::json;

// What a real apiserver sends beside the pod view: these must not change
// anything.
json review_of(const json& pod, const std::string& ns, const std::string& uid) {
  json object = pod;
  if (object.is_object()) {
    object["apiVersion"] = "v1";
    object["kind"] = "Pod";
    object["status"] = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
    if (object.contains("metadata") && object["metadata"].is_object()) {
      object["metadata"]["managedFields"] = json::array(
          {{{"manager", "kubectl"},
            {"operation", "Update"},
            {"fieldsV1", {{"f:spec", {{"f:containers", {{"k:{\"name\":\"app\"}", json::object()}}}}}}}}});
      object["metadata"]["labels"] = {{"app", "x"}};
    }
  }
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", uid},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"requestKind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"operation", "CREATE"},
            {"namespace", ns},
            {"userInfo", {{"username", "admin"}, {"groups", json::array({"system:masters"})}}},
            {"object", std::move(object)},
            {"oldObject", nullptr},
            {"dryRun", false},
            {"options", {{"kind", "CreateOptions"}, {"apiVersion", "meta.k8s.io/v1"}}}}}};
}

wh::PodReviewEnv env_for(const wh::SaSettings& sa, const wh::MutationConfig& cfg,
                         std::uint32_t seed) {
  wh::PodReviewEnv env;
  env.operator_namespace = "gtoken-system";
  env.config = cfg;
  env.namespace_labels = [](const std::string&) -> std::optional<json> { return std::nullopt; };
  env.service_account = [sa](const std::string&, const std::string&) {
    return std::optional<wh::SaSettings>(sa);
  };
  env.random = wh::testing::counter_random(seed);
  return env;
}

struct Outcome {
  bool decoded = false;
  wh::Decision decision;
  std::string body;
};

Outcome run(const std::string& body, wh::AdmissionDecoding decoding, const wh::SaSettings& sa,
            const wh::MutationConfig& cfg, std::uint32_t seed) {
  Outcome out;
  auto decoded = wh::decode_admission("application/json", body, wh::kDefaultAdmissionBodyLimit,
                                      decoding);
  if (!decoded.request) {
    out.body = decoded.rejection.body;
    return out;
  }
  out.decoded = true;
  const auto env = env_for(sa, cfg, seed);
  out.decision = wh::review_pod(*decoded.request, env);
  // The answer from a fresh random source with the same seed: the same draws.
  const auto env_again = env_for(sa, cfg, seed);
  out.body = wh::answer_admission(*decoded.request, [&](const wh::AdmissionRequest& r) {
               return wh::review_pod(r, env_again);
             }).body;
  return out;
}

// Fails, saying where, when the two paths differ in anything the apiserver
// or the logs see.
void check_same(const std::string& body, const wh::SaSettings& sa, const wh::MutationConfig& cfg,
                std::uint32_t seed, std::map<std::string, int>& outcomes) {
  const Outcome whole = run(body, wh::AdmissionDecoding::Whole, sa, cfg, seed);
  const Outcome view = run(body, wh::AdmissionDecoding::PodView, sa, cfg, seed);
  REQUIRE(whole.decoded == view.decoded);
  CHECK_MESSAGE(whole.decision.patch == view.decision.patch,
                "patch differs: whole " << whole.decision.patch.json << " view "
                                        << view.decision.patch.json);
  CHECK(whole.decision.allowed == view.decision.allowed);
  CHECK_MESSAGE(whole.decision.warnings == view.decision.warnings,
                json(whole.decision.warnings).dump() << " vs " << json(view.decision.warnings).dump());
  CHECK(whole.decision.skip == view.decision.skip);
  CHECK(whole.body == view.body);
  if (!whole.decoded) {
    ++outcomes["rejected"];
  } else if (whole.decision.skip) {
    ++outcomes[std::string(wh::to_string(*whole.decision.skip))];
  } else {
    ++outcomes["patched"];
  }
}

// mutate_pod_text against mutate_pod, each with a random source of the same
// seed: the same skip and warnings, and the patch text is the reference
// document's dump, byte for byte. Counts what it saw in `outcomes`.
void check_text_patch(const json& pod, const std::string& ns, const wh::SaSettings& sa,
                      const wh::MutationConfig& cfg, std::uint32_t seed,
                      std::map<std::string, int>& outcomes) {
  const wh::MutationResult reference =
      wh::mutate_pod(pod, ns, sa, cfg, wh::testing::counter_random(seed));
  const wh::MutationText text =
      wh::mutate_pod_text(pod, ns, sa, cfg, wh::testing::counter_random(seed));
  CHECK(text.skip == reference.skip);
  CHECK(text.warnings == reference.warnings);
  CHECK(text.patch.operations == reference.patch.size());
  const std::string dumped =
      reference.patch.empty() ? "" : reference.patch.dump(-1, ' ', false, json::error_handler_t::replace);
  CHECK_MESSAGE(text.patch.json == dumped,
                "text patch differs:\n text " << text.patch.json << "\n  dom " << dumped);
  ++outcomes[reference.skip ? std::string(wh::to_string(*reference.skip)) : "patched"];
}

// `check(name, input)` for every golden case's input.
template <class Check>
void for_each_golden_case(Check check) {
  const auto names = wh::testing::case_names();
  REQUIRE(names.size() >= 16);
  for (const auto& name : names) {
    INFO("golden case: ", name);
    check(name, wh::testing::load_yaml_file(
                    (wh::testing::golden_dir() / (name + ".in.yaml")).string()));
  }
}

TEST_CASE("fast path: every golden case's patch is written as text as the reference dumps it") {
  std::map<std::string, int> outcomes;
  for_each_golden_case([&](const std::string&, const json& input) {
    check_text_patch(input.at("pod"), input.at("namespace").get<std::string>(),
                     wh::testing::settings_for(input), wh::testing::config_for(input),
                     input.value("randomSeed", std::uint32_t{1}), outcomes);
  });
  INFO(json(outcomes).dump());
  CHECK(outcomes["patched"] >= 10);
}

TEST_CASE("fast path: every golden case reviews the same on the pod view as on the whole review") {
  std::map<std::string, int> outcomes;
  for_each_golden_case([&](const std::string& name, const json& input) {
    const auto seed = input.value("randomSeed", std::uint32_t{1});
    const std::string body =
        review_of(input.at("pod"), input.at("namespace").get<std::string>(), "uid-" + name).dump();
    check_same(body, wh::testing::settings_for(input), wh::testing::config_for(input), seed,
               outcomes);
  });
  CHECK(outcomes["patched"] > 0);
}

TEST_CASE("fast path: the pod view leaves out what the review does not read") {
  const json pod = {{"metadata", {{"name", "p"}, {"annotations", {{"a", "b"}}}}},
                    {"spec",
                     {{"containers", json::array({{{"name", "app"}, {"image", "busybox"}}})},
                      {"volumes", json::array({{{"name", "v"}, {"configMap", {{"name", "c"}}}}})},
                      {"dnsPolicy", "ClusterFirst"}}}};
  const std::string body = review_of(pod, "ns", "u").dump();
  auto decoded = wh::decode_admission("application/json", body, wh::kDefaultAdmissionBodyLimit,
                                      wh::AdmissionDecoding::PodView);
  REQUIRE(decoded.request);
  const json expected_object = {
      {"metadata", {{"name", "p"}, {"annotations", {{"a", "b"}}}}},
      {"spec",
       {{"containers", json::array({{{"name", "app"}}})},
        {"volumes", json::array({{{"name", "v"}}})}}}};
  CHECK(decoded.request->object() == expected_object);
  CHECK_FALSE(decoded.request->request.contains("userInfo"));
  CHECK(decoded.request->uid == "u");
  CHECK(decoded.request->kind == "Pod");
}

TEST_CASE("fast path: the limits refuse the same bodies on both decodings") {
  const std::vector<std::string> bodies = {
      std::string(200, '[') + std::string(200, ']'),
      "{\"request\":" + std::string(130, '[') + std::string(130, ']') + "}",
      "[" + [] {
        std::string s;
        for (int i = 0; i < 100'001; ++i) s += i ? ",0" : "0";
        return s;
      }() + "]",
      "{\"a\":",
      "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":[]}",
      "{} x",
  };
  for (const auto& body : bodies) {
    const auto whole = wh::decode_admission("application/json", body, 4 << 20);
    const auto view = wh::decode_admission("application/json", body, 4 << 20,
                                           wh::AdmissionDecoding::PodView);
    CHECK_FALSE(whole.request);
    CHECK_FALSE(view.request);
    CHECK(whole.rejection.error == view.rejection.error);
    CHECK(whole.rejection.body == view.rejection.body);
  }
}

// Seeded random pods: containers, env, mounts and volumes drawn from the names
// the mutation looks for, wrong types now and then, and noise it must ignore.
class PodGenerator {
 public:
  explicit PodGenerator(std::uint32_t seed) : rng_(seed) {}

  bool broken() { return chance(noise_); }
  bool chance(int percent) { return pick(100) < static_cast<std::size_t>(percent); }
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
  template <typename T>
  const T& one_of(const std::vector<T>& items) {
    return items[pick(items.size())];
  }

  json scalar_noise() {
    switch (pick(5)) {
      case 0:
        return nullptr;
      case 1:
        return chance(50);
      case 2:
        return static_cast<std::int64_t>(pick(100000)) - 50;
      case 3:
        return 1.5;
      default:
        return one_of<std::string>({"", "x", "a\"b\\c", "\xc3\xa9t\xc3\xa9", "line\nbreak"});
    }
  }

  json env_entry() {
    json e = json::object();
    if (!broken()) {
      e["name"] = one_of<std::string>(
          {"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_REGION",
           "AWS_DEFAULT_REGION", "AWS_STS_REGIONAL_ENDPOINTS", "GTOKEN_POD_NAME", "FOO"});
    }
    if (chance(70)) {
      e["value"] = chance(90) ? json(one_of<std::string>({"x", "eu-west-1", "$(AWS_REGION)",
                                                          "ns-abcde12345"}))
                              : scalar_noise();
    } else if (chance(80)) {
      e["valueFrom"] = {{"fieldRef", {{"fieldPath", chance(70) ? "metadata.name" : "spec.nodeName"}}}};
    }
    return e;
  }

  json mount() {
    json m = json::object();
    if (!broken()) {
      m["name"] = one_of<std::string>({"gtoken-volume", "gtoken-volume-2", "aws-iam-token", "data"});
    }
    if (!broken()) {
      m["mountPath"] = one_of<std::string>({"/var/run/secrets/aws/token",
                                            "/var/run/secrets/eks.amazonaws.com/serviceaccount",
                                            "/data"});
    }
    if (chance(30)) m["readOnly"] = true;
    return m;
  }

  json list_of(int max, json (PodGenerator::*make)()) {
    if (broken()) return scalar_noise();
    json out = json::array();
    for (std::size_t i = pick(static_cast<std::size_t>(max) + 1); i > 0; --i) out.push_back((this->*make)());
    return out;
  }

  json container() {
    if (broken()) return scalar_noise();
    json c = {{"image", "busybox"}, {"args", json::array({"sleep", "1"})},
              {"resources", {{"limits", {{"memory", "64Mi"}}}}}};
    if (!broken()) c["name"] = one_of<std::string>({"app", "init", "side", "gtoken", "gtoken-init"});
    if (chance(60)) c["env"] = list_of(4, &PodGenerator::env_entry);
    if (chance(50)) c["volumeMounts"] = list_of(3, &PodGenerator::mount);
    return c;
  }

  json volume() {
    json v = json::object();
    if (!broken()) v["name"] = one_of<std::string>({"gtoken-volume", "gtoken-volume-2", "aws-iam-token", "data"});
    switch (pick(4)) {
      case 0:
        v["emptyDir"] = {{"medium", "Memory"}};
        break;
      case 1:
        v["projected"] = {{"sources", json::array({{{"serviceAccountToken",
                                                     {{"audience", "sts.amazonaws.com"},
                                                      {"expirationSeconds", 86400},
                                                      {"path", chance(80) ? "token" : "other"}}}}})}};
        break;
      case 2:
        v["configMap"] = {{"name", "c"}};
        break;
      default:
        break;
    }
    return v;
  }

  json pod() {
    // One pod in five gets the wrong types and missing names now and then.
    noise_ = chance(20) ? 4 : 0;
    if (broken()) return scalar_noise();
    json metadata = json::object();
    if (chance(60)) metadata["name"] = chance(80) ? json("web-1") : json(std::string(70, 'p'));
    if (chance(40)) {
      metadata["generateName"] = one_of<std::string>({"web-", "job-abc-", std::string(60, 'g') + "-"});
    }
    if (chance(20)) metadata["namespace"] = (broken() ? "Bad_NS" : one_of<std::string>({"apps", ""}));
    if (chance(70)) {
      json annotations = {{"kubectl.kubernetes.io/last-applied-configuration", "{\"big\":1}"}};
      if (chance(30)) {
        annotations[std::string(wh::kInjectAnnotation)] = one_of<std::string>({"true", "false", "maybe", " 0 "});
      }
      if (chance(30)) {
        annotations[std::string(wh::kSkipContainersAnnotation)] = one_of<std::string>({"app", "side, init", ""});
      }
      if (chance(20)) {
        annotations[std::string(wh::kEksSkipContainersAnnotation)] = one_of<std::string>({"app", "init"});
      }
      if (chance(20)) {
        annotations[std::string(wh::kEksTokenExpirationAnnotation)] = one_of<std::string>({"3600", "10", "999999", "x"});
      }
      metadata["annotations"] = !broken() ? annotations : scalar_noise();
    }
    json spec = {{"dnsPolicy", "ClusterFirst"}, {"schedulerName", "default-scheduler"}};
    if (chance(80)) spec["serviceAccountName"] = (broken() ? "Bad Name" : one_of<std::string>({"bound", "default"}));
    if (chance(10)) spec["serviceAccount"] = "bound";
    if (chance(85)) spec["containers"] = list_of(3, &PodGenerator::container);
    if (chance(40)) spec["initContainers"] = list_of(2, &PodGenerator::container);
    if (chance(50)) spec["volumes"] = list_of(3, &PodGenerator::volume);
    if (chance(5)) spec["nodeSelector"] = {{chance(50) ? "kubernetes.io/os" : "beta.kubernetes.io/os", "windows"}};
    if (chance(5)) spec["os"] = {{"name", chance(70) ? "windows" : "linux"}};
    if (chance(5)) spec["hostNetwork"] = chance(70);
    if (chance(20)) {
      spec["securityContext"] = {{"fsGroup", chance(80) ? json(2000) : scalar_noise()}};
    }
    if (chance(30)) spec["restartPolicy"] = one_of<std::string>({"Always", "Never", "OnFailure"});
    json pod = {{"metadata", !broken() ? metadata : scalar_noise()}};
    if (!broken()) pod["spec"] = !broken() ? spec : scalar_noise();
    return pod;
  }

  wh::SaSettings settings() {
    wh::SaSettings sa;
    const int role = static_cast<int>(pick(20));
    if (role == 0) return sa;  // not bound
    sa.role_arn = role == 1 ? "not-an-arn" : "arn:aws:iam::123456789012:role/r";
    if (chance(40)) sa.token_source = wh::TokenSource::Kubernetes;
    if (chance(30)) {
      sa.audience = one_of<std::string>({"sts.amazonaws.com", "", "custom", "q\"uote\\ \xe2\x82\xac \xc3"});
    }
    if (chance(40)) sa.region = one_of<std::string>({"eu-west-1", "Not A Region"});
    if (chance(20)) sa.containers = {one_of<std::string>({"app", "init", "side"})};
    if (chance(20)) sa.token_expiration_seconds = one_of<std::int64_t>({100, 1800, 7200, 90000});
    if (chance(20)) sa.sts_regional_endpoints = chance(50);
    if (chance(10)) sa.warnings = {"binding says something"};
    return sa;
  }

  wh::MutationConfig config() {
    wh::MutationConfig cfg;
    cfg.native_sidecars = chance(60);
    if (chance(20)) cfg.default_region = "us-east-1";
    if (chance(20)) cfg.volume_size_limit = "";
    if (chance(20)) cfg.agent_resources.requests = {};
    if (chance(20)) cfg.agent_resources.limits = {"100m", ""};
    if (chance(10)) cfg.agent_resources = {};
    if (chance(10)) cfg.agent_image = one_of<std::string>({"r\u00e9g/gtoken:\"1\"", "bad \xff utf8"});
    if (chance(10)) cfg.agent_run_as_group = -1;
    if (chance(10)) cfg.startup_probe_period_seconds = 0;
    return cfg;
  }

 private:
  std::mt19937 rng_;
  int noise_ = 0;
};

TEST_CASE("fast path: thousands of seeded random pods review the same on both paths") {
  PodGenerator gen(20261202);
  std::map<std::string, int> outcomes;
  std::map<std::string, int> text_outcomes;
  constexpr int kPods = 4000;
  for (int i = 0; i < kPods; ++i) {
    const json pod = gen.pod();
    const wh::SaSettings sa = gen.settings();
    const wh::MutationConfig cfg = gen.config();
    const std::string ns = gen.chance(95) ? "apps" : "";
    const std::string body = review_of(pod, ns, "uid-" + std::to_string(i)).dump();
    INFO("pod ", i, ": ", body);
    check_same(body, sa, cfg, static_cast<std::uint32_t>(i), outcomes);
    check_text_patch(pod, ns, sa, cfg, static_cast<std::uint32_t>(i), text_outcomes);
  }
  // The generator reaches the mutation's branches, not only its first refusal.
  INFO(json(outcomes).dump());
  CHECK(outcomes["patched"] > kPods / 5);
  for (const char* reason : {"InvalidPod", "NoRoleAnnotation", "AlreadyInjected", "PodOptOut",
                             "InvalidName", "NoContainerSelected", "WindowsNotSupported",
                             "ContainerNameConflict", "InvalidRoleArn"}) {
    CHECK_MESSAGE(outcomes[reason] > 0, "no pod skipped as " << reason);
  }
  INFO(json(text_outcomes).dump());
  CHECK(text_outcomes["patched"] > kPods / 5);
}

// The reference: the response object nlohmann dumps.
std::string reference_review(const std::string& uid, const wh::Decision& d) {
  json response{{"uid", uid}, {"allowed", d.allowed}};
  if (d.allowed && !d.patch.empty()) {
    response["patchType"] = "JSONPatch";
    response["patch"] = kube::base64_encode(d.patch.json);
  }
  if (!d.allowed) response["status"] = {{"code", d.status_code}, {"message", d.status_message}};
  if (!d.warnings.empty()) {
    json warnings = json::array();
    for (std::size_t i = 0; i < d.warnings.size(); ++i) {
      if (i + 1 == wh::kMaxWarnings && d.warnings.size() > wh::kMaxWarnings) {
        warnings.push_back(std::to_string(d.warnings.size() - i) + " more warnings");
        break;
      }
      warnings.push_back(wh::sanitize_warning(d.warnings[i]));
    }
    response["warnings"] = std::move(warnings);
  }
  return json{{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", response}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

TEST_CASE("review writer: the bytes of nlohmann's dump of the response object") {
  PodGenerator gen(7);
  const std::vector<std::string> uids = {"705ab4f5-6393-11e8-b7cc-42010a800002", "", "a\"b",
                                         "\x01\x7f", "bad \xff utf8", "\xe2\x82\xac"};
  for (int i = 0; i < 500; ++i) {
    wh::Decision d;
    d.allowed = !gen.chance(20);
    if (gen.chance(60)) {
      json patch = json::array();
      for (std::size_t n = gen.pick(4) + 1; n > 0; --n) {
        patch.push_back({{"op", "add"}, {"path", "/spec/x"}, {"value", gen.container()}});
      }
      d.patch = wh::PatchText::of(patch);
    }
    d.status_code = 400 + static_cast<int>(gen.pick(100));
    d.status_message = gen.one_of<std::string>({"", "no", "quote \" and \\", "\xc3\x28 bad"});
    for (std::size_t n = gen.chance(50) ? gen.pick(14) : 0; n > 0; --n) {
      d.warnings.push_back(gen.chance(80) ? std::string(gen.pick(200), 'w') + "\t\xc3\xa9" : "");
    }
    const std::string& uid = gen.one_of(uids);
    std::size_t operations = 99;
    const std::string written = wh::write_admission_review(uid, d, operations);
    CHECK(written == reference_review(uid, d));
    CHECK(operations == (d.allowed ? d.patch.operations : 0));
  }
}

}  // namespace
