#pragma once
// Small readers of Kubernetes objects as JSON, shared by the plugin's pure
// checkers: absent or mistyped fields read as empty, never throw.

#include <nlohmann/json.hpp>
#include <string>

namespace gtoken::plugin {

// The string at JSON Pointer `ptr` ("/metadata/name"), "" when absent or not a string.
std::string text_at(const nlohmann::json& j, const char* ptr);
// metadata.annotations[key], "" when absent.
std::string annotation(const nlohmann::json& obj, const std::string& key);
// The condition of `type` in status.conditions, null when absent.
nlohmann::json condition(const nlohmann::json& obj, const std::string& type);
// items of a List, [] when absent.
const nlohmann::json& items_of(const nlohmann::json& list);

}  // namespace gtoken::plugin
