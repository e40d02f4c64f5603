// Golden-file tests of mutate_pod. Each case is tests/golden/webhook/<case>.in.yaml
// (pod, namespace, ServiceAccount, optional binding and config overrides, an
// optional randomSeed, and the expected skip reason and warnings) beside <case>.patch.json (the
// exact expected patch) and <case>.out.yaml (the pod after the patch).
//
// A case taken from aws/amazon-eks-pod-identity-webhook's pkg/handler/testdata
// also has `eks`: the file it comes from, the volume and each container's env
// and volumeMounts as that webhook's expected patch leaves them, and
// `alsoAdded`, what gtoken adds on purpose beyond them (env names and mount
// paths, per container, "*" for all). The patched pod must match those
// exactly, env and mounts as sets.
//
// GTOKEN_UPDATE_GOLDEN=1 rewrites the .patch.json and .out.yaml files from the
// current code; review every changed file by eye before keeping it.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/webhook_golden_cases.hpp"
#include "tests/unit/webhook_yaml.hpp"
#include "webhook/mutate.hpp"

namespace {

using gtoken::webhook::MutationConfig;
using gtoken::webhook::MutationResult;
using gtoken::webhook::RandomSource;
using gtoken::webhook::SaSettings;
using gtoken::webhook::to_string;
using nlohmann::json;
namespace fs = std::filesystem;
namespace testing = gtoken::webhook::testing;
using testing::case_names;
using testing::config_for;
using testing::counter_random;
using testing::golden_dir;
using testing::settings_for;

// What the apiserver's validation would reject, or what would make the pod
// unable to start, checked on every patched pod.
void check_pod_invariants(const json& pod, const MutationConfig& cfg) {
  const json& spec = pod.at("spec");
  std::set<std::string> container_names;
  std::set<std::string> volume_names;
  for (const auto& v : spec.value("volumes", json::array())) {
    CHECK_MESSAGE(volume_names.insert(v.at("name").get<std::string>()).second,
                  "duplicate volume " << v.at("name"));
  }
  int agents = 0;
  for (const char* list : {"initContainers", "containers"}) {
    for (const auto& c : spec.value(list, json::array())) {
      const auto name = c.at("name").get<std::string>();
      CHECK_MESSAGE(container_names.insert(name).second, "duplicate container " << name);
      if (name == cfg.agent_container_name) ++agents;
      std::set<std::string> paths;
      for (const auto& m : c.value("volumeMounts", json::array())) {
        CHECK_MESSAGE(paths.insert(m.at("mountPath").get<std::string>()).second,
                      "duplicate mountPath in " << name);
        CHECK_MESSAGE(volume_names.count(m.at("name").get<std::string>()) == 1,
                      "mount of unknown volume in " << name);
      }
      std::set<std::string> env_names;
      for (const auto& e : c.value("env", json::array())) {
        const auto env_name = e.at("name").get<std::string>();
        if (env_name.starts_with("AWS_") || env_name == cfg.pod_name_env) {
          CHECK_MESSAGE(env_names.insert(env_name).second,
                        "duplicate " << env_name << " in " << name);
        }
        if (env_name == "AWS_ROLE_SESSION_NAME" && e.contains("value")) {
          const auto value = e["value"].get<std::string>();
          const std::string runtime = "$(" + cfg.pod_name_env + ")";
          if (value.ends_with(runtime)) {
            // The name the apiserver will generate: generateName cut to 58, plus 5.
            const auto prefix = value.substr(0, value.size() - runtime.size());
            const auto generate_name =
                pod.at("metadata").value("generateName", std::string{}).substr(0, 58);
            CHECK(gtoken::webhook::is_valid_session_name(prefix + generate_name + "xxxxx"));
          } else {
            CHECK_MESSAGE(gtoken::webhook::is_valid_session_name(value),
                          "invalid session name " << value);
          }
        }
      }
    }
  }
  CHECK(agents <= 1);
}

// The entries of `list` whose `key` (env: name, volumeMounts: mountPath) is
// not in `except`, in a fixed order.
std::set<json> entries_except(const json& list, const std::string& key,
                              const std::set<std::string>& except) {
  std::set<json> out;
  for (const auto& entry : list) {
    if (except.count(entry.value(key, std::string{})) == 0) out.insert(entry);
  }
  return out;
}

std::set<std::string> also_added(const json& eks, const std::string& container, const char* what) {
  std::set<std::string> out;
  const json added = eks.value("alsoAdded", json::object());
  for (const auto& who : {std::string("*"), container}) {
    const json names = added.value(who, json::object()).value(what, json::array());
    for (const auto& name : names) out.insert(name.get<std::string>());
  }
  return out;
}

// In `list` of the pod's spec, the entry of that name (a pointer into `pod`).
const json* spec_entry(const json& pod, const char* list, const std::string& name) {
  const json& spec = pod.at("spec");
  const auto it = spec.find(list);
  if (it == spec.end()) return nullptr;
  for (const auto& entry : *it) {
    if (entry.value("name", std::string{}) == name) return &entry;
  }
  return nullptr;
}

// The patched pod against what the EKS webhook's own expected patch gives.
void check_eks(const json& eks, const json& patched) {
  INFO("EKS testdata: ", eks.value("testdata", std::string{}));
  if (eks.contains("volume")) {
    const json& wanted = eks["volume"];
    const json* volume = spec_entry(patched, "volumes", wanted.value("name", std::string{}));
    REQUIRE_MESSAGE(volume != nullptr, "no volume " << wanted.dump());
    CHECK_MESSAGE(*volume == wanted, "volume " << volume->dump() << " vs EKS " << wanted.dump());
  }
  REQUIRE(eks.contains("containers"));
  for (const auto& [name, wanted] : eks["containers"].items()) {
    INFO("container ", name);
    const json* c = spec_entry(patched, "initContainers", name);
    if (c == nullptr) c = spec_entry(patched, "containers", name);
    REQUIRE(c != nullptr);
    for (const auto& [what, key] : {std::pair{"env", "name"}, {"volumeMounts", "mountPath"}}) {
      const auto ours =
          entries_except(c->value(what, json::array()), key, also_added(eks, name, what));
      const auto theirs = entries_except(wanted.value(what, json::array()), key, {});
      CHECK_MESSAGE(ours == theirs, std::string(what) << ": gtoken " << json(ours).dump()
                                                      << " vs EKS " << json(theirs).dump());
    }
  }
}

void run_case(const std::string& name, bool update) {
  const json input = testing::load_yaml_file((golden_dir() / (name + ".in.yaml")).string());
  const fs::path patch_path = golden_dir() / (name + ".patch.json");
  const fs::path out_path = golden_dir() / (name + ".out.yaml");

  const SaSettings sa = settings_for(input);
  const MutationConfig cfg = config_for(input);
  const json& pod = input.at("pod");
  const std::string ns = input.at("namespace").get<std::string>();

  const auto seed = input.value("randomSeed", std::uint32_t{1});
  MutationResult result = gtoken::webhook::mutate_pod(pod, ns, sa, cfg, counter_random(seed));
  const std::vector<std::string>& warnings = result.warnings;
  const json patched = pod.patch(result.patch);

  if (update) {
    testing::write_file(patch_path.string(), result.patch.dump(2) + "\n");
    testing::write_file(out_path.string(), testing::to_yaml(patched));
  }

  const json golden_patch = json::parse(testing::read_file(patch_path.string()));
  CHECK_MESSAGE(result.patch == golden_patch, "patch differs from golden; diff golden->actual: "
                                                  << json::diff(golden_patch, result.patch).dump());
  const json golden_out = testing::load_yaml_file(out_path.string());
  CHECK_MESSAGE(patched == golden_out, "patched pod differs from golden; diff golden->actual: "
                                           << json::diff(golden_out, patched).dump());

  const json expect = input.value("expect", json::object());
  const std::string expected_skip = expect.value("skip", std::string{});
  const std::string actual_skip = result.skip ? std::string(to_string(*result.skip)) : "";
  CHECK(actual_skip == expected_skip);
  CHECK_EQ(result.patch.empty(), result.skip.has_value());

  const json expected_warnings = expect.value("warnings", json::array());
  CHECK_MESSAGE(warnings.size() == expected_warnings.size(), "warnings: " << json(warnings).dump());
  for (const auto& fragment : expected_warnings) {
    const auto text = fragment.get<std::string>();
    CHECK_MESSAGE(std::any_of(warnings.begin(), warnings.end(),
                              [&](const std::string& w) { return w.find(text) != w.npos; }),
                  "no warning contains \"" << text << "\"; got " << json(warnings).dump());
  }

  check_pod_invariants(patched, cfg);
  if (input.contains("eks")) check_eks(input["eks"], patched);

  // Reinvocation: a different random source shows no new random name is drawn.
  const MutationResult again =
      gtoken::webhook::mutate_pod(patched, ns, sa, cfg, counter_random(99));
  CHECK_MESSAGE(again.patch.empty(), "second mutation not empty: " << again.patch.dump());
  if (result.patch.empty()) {
    CHECK(again.skip == result.skip);
  } else {
    CHECK(again.skip == gtoken::webhook::SkipReason::AlreadyInjected);
  }
}

TEST_CASE("webhook golden cases") {
  const char* env =
      std::getenv("GTOKEN_UPDATE_GOLDEN");  // NOLINT(concurrency-mt-unsafe): one thread
  const bool update = env != nullptr && std::string(env) == "1";
  const auto names = case_names();
  REQUIRE(names.size() >= 16);
  for (const auto& name : names) {
    INFO("golden case: ", name);
    run_case(name, update);
  }
}

}  // namespace
