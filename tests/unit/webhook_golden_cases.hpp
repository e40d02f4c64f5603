#pragma once
// The golden corpus (tests/golden/webhook) as cases: where it is, which cases
// it has, and each case's ServiceAccount settings, configuration and random
// source. Shared by the golden test and the fast path's differential test.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "webhook/config.hpp"
#include "webhook/session_name.hpp"
#include "webhook/settings.hpp"

namespace gtoken::webhook::testing {

using nlohmann::json;
namespace fs = std::filesystem;

inline fs::path golden_dir() {
  return fs::path(GTOKEN_SOURCE_DIR) / "tests" / "golden" / "webhook";
}

// A fixed linear congruential sequence: reproducible "random" suffixes.
inline RandomSource counter_random(std::uint32_t seed) {
  return [state = seed]() mutable {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
}

inline SaSettings settings_for(const json& input) {
  SaSettings sa =
      settings_from_service_account(input.value("serviceAccount", json::object()));
  // The AwsRoleBinding, when the case has one, wins over the annotations.
  const json binding = input.value("binding", json::object());
  if (binding.contains("roleArn")) sa.role_arn = binding["roleArn"].get<std::string>();
  if (binding.contains("audience")) sa.audience = binding["audience"].get<std::string>();
  if (binding.contains("region")) sa.region = binding["region"].get<std::string>();
  if (binding.contains("containers")) {
    sa.containers = binding["containers"].get<std::vector<std::string>>();
  }
  if (binding.contains("tokenExpirationSeconds")) {
    sa.token_expiration_seconds = binding["tokenExpirationSeconds"].get<std::int64_t>();
  }
  return sa;
}

inline MutationConfig config_for(const json& input) {
  MutationConfig cfg;
  const json overrides = input.value("config", json::object());
  for (const auto& [key, value] : overrides.items()) {
    if (key == "nativeSidecars") {
      cfg.native_sidecars = value.get<bool>();
    } else if (key == "agentImage") {
      cfg.agent_image = value.get<std::string>();
    } else if (key == "imagePullPolicy") {
      cfg.image_pull_policy = value.get<std::string>();
    } else if (key == "tokenMountPath") {
      cfg.token_mount_path = value.get<std::string>();
    } else if (key == "volumeName") {
      cfg.volume_name = value.get<std::string>();
    } else if (key == "defaultAudience") {
      cfg.default_audience = value.get<std::string>();
    } else if (key == "defaultRegion") {
      cfg.default_region = value.get<std::string>();
    } else {
      FAIL("unknown config key in golden input: " << key);
    }
  }
  return cfg;
}

inline std::vector<std::string> case_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(golden_dir())) {
    const std::string file = entry.path().filename().string();
    constexpr std::string_view kSuffix = ".in.yaml";
    if (file.ends_with(kSuffix)) names.push_back(file.substr(0, file.size() - kSuffix.size()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace gtoken::webhook::testing
