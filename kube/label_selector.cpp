#include "kube/label_selector.hpp"

#include <algorithm>
#include <stdexcept>

namespace kube {

using nlohmann::json;

LabelSelector LabelSelector::from_json(const json& j) {
  LabelSelector s;
  if (j.is_null()) return s;
  if (!j.is_object()) throw std::invalid_argument("selector must be an object");
  if (j.contains("matchLabels")) {
    const json& ml = j["matchLabels"];
    if (!ml.is_object()) throw std::invalid_argument("selector.matchLabels must be an object");
    for (const auto& [k, v] : ml.items()) {
      if (!v.is_string()) throw std::invalid_argument("selector.matchLabels." + k + " must be a string");
      s.requirements.push_back({k, "In", {v.get<std::string>()}});
    }
  }
  if (j.contains("matchExpressions")) {
    const json& me = j["matchExpressions"];
    if (!me.is_array()) throw std::invalid_argument("selector.matchExpressions must be a list");
    for (const auto& e : me) {
      if (!e.is_object() || !e.contains("key") || !e["key"].is_string() || !e.contains("operator") ||
          !e["operator"].is_string()) {
        throw std::invalid_argument("selector.matchExpressions entries need key and operator");
      }
      LabelRequirement r{e["key"].get<std::string>(), e["operator"].get<std::string>(), {}};
      if (e.contains("values")) {
        if (!e["values"].is_array()) throw std::invalid_argument("selector values must be a list");
        for (const auto& v : e["values"]) {
          if (!v.is_string()) throw std::invalid_argument("selector values must be strings");
          r.values.push_back(v.get<std::string>());
        }
      }
      const bool needs_values = r.op == "In" || r.op == "NotIn";
      if (!needs_values && r.op != "Exists" && r.op != "DoesNotExist") {
        throw std::invalid_argument("selector operator " + r.op +
                                    " is not In, NotIn, Exists or DoesNotExist");
      }
      // As the apiserver validates: In/NotIn need values, Exists/DoesNotExist none.
      if (needs_values == r.values.empty()) {
        throw std::invalid_argument("selector operator " + r.op +
                                    (needs_values ? " needs values" : " takes no values"));
      }
      s.requirements.push_back(std::move(r));
    }
  }
  return s;
}

bool LabelSelector::matches(const json& labels) const {
  for (const auto& r : requirements) {
    const bool has = labels.is_object() && labels.contains(r.key) && labels[r.key].is_string();
    const std::string value = has ? labels[r.key].get<std::string>() : std::string();
    const bool listed = has && std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    if (r.op == "In" && !listed) return false;
    if (r.op == "NotIn" && listed) return false;
    if (r.op == "Exists" && !has) return false;
    if (r.op == "DoesNotExist" && has) return false;
  }
  return true;
}

}  // namespace kube
