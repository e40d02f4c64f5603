#pragma once
// metav1.LabelSelector (matchLabels + matchExpressions), evaluated locally.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kube {

struct LabelRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};

struct LabelSelector {
  std::vector<LabelRequirement> requirements;  // matchLabels become In with one value

  // Throws std::invalid_argument naming the bad field.
  static LabelSelector from_json(const nlohmann::json& j);
  // An empty selector matches everything, as in Kubernetes.
  bool matches(const nlohmann::json& labels) const;
};

}  // namespace kube
