#pragma once
// Small readers of Kubernetes objects as JSON, shared by the plugin's pure
// checkers: absent or mistyped fields read as empty, never throw.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gtoken::plugin {

// The string at JSON Pointer `ptr` ("/metadata/name"), "" when absent or not a string.
std::string text_at(const nlohmann::json& j, const char* ptr);
// metadata.annotations[key], "" when absent.
std::string annotation(const nlohmann::json& obj, const std::string& key);
// The condition of `type` in status.conditions, null when absent.
nlohmann::json condition(const nlohmann::json& obj, const std::string& type);
// A claim or policy value as strings: a string, or the strings, numbers and
// booleans of an array (numbers and booleans as JSON text); [] otherwise.
std::vector<std::string> string_values(const nlohmann::json& v);
// items of a List, [] when absent.
const nlohmann::json& items_of(const nlohmann::json& list);

}  // namespace gtoken::plugin
