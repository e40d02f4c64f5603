#pragma once
// JSON as YAML (block style), for `kubectl gtoken trust-policy -o yaml`.

#include <nlohmann/json.hpp>
#include <string>

namespace gtoken::plugin {

std::string to_yaml(const nlohmann::json& j);

}  // namespace gtoken::plugin
