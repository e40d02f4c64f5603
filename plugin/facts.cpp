#include "plugin/facts.hpp"

namespace gtoken::plugin {

std::string text_at(const nlohmann::json& j, const char* ptr) {
  const nlohmann::json::json_pointer p(ptr);
  if (!j.is_object() || !j.contains(p)) {
    return "";
  }
  const auto& v = j.at(p);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string annotation(const nlohmann::json& obj, const std::string& key) {
  if (!obj.is_object()) {
    return "";
  }
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) {
    return "";
  }
  auto a = m->find("annotations");
  if (a == m->end() || !a->is_object()) {
    return "";
  }
  auto v = a->find(key);
  return v != a->end() && v->is_string() ? v->get<std::string>() : "";
}

nlohmann::json condition(const nlohmann::json& obj, const std::string& type) {
  const nlohmann::json::json_pointer p("/status/conditions");
  if (!obj.is_object() || !obj.contains(p) || !obj.at(p).is_array()) {
    return nullptr;
  }
  for (const auto& c : obj.at(p)) {
    if (c.is_object() && c.value("type", "") == type) {
      return c;
    }
  }
  return nullptr;
}

std::vector<std::string> string_values(const nlohmann::json& v) {
  std::vector<std::string> out;
  auto add = [&](const nlohmann::json& e) {
    if (e.is_string()) {
      out.push_back(e.get<std::string>());
    } else if (e.is_boolean() || e.is_number()) {
      out.push_back(e.dump());
    }
  };
  if (v.is_array()) {
    for (const auto& e : v) {
      add(e);
    }
  } else {
    add(v);
  }
  return out;
}

const nlohmann::json& items_of(const nlohmann::json& list) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  if (list.is_object()) {
    auto it = list.find("items");
    if (it != list.end() && it->is_array()) {
      return *it;
    }
  }
  return kEmpty;
}

}  // namespace gtoken::plugin
