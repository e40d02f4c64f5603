#include "kube/finalizers.hpp"

namespace kube {

using json = nlohmann::json;

namespace {

// Index of the last `finalizer` in metadata.finalizers, -1 when absent.
long finalizer_index(const json& obj, const std::string& finalizer) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return -1;
  const json& m = obj["metadata"];
  auto it = m.find("finalizers");
  if (it == m.end() || !it->is_array()) return -1;
  long index = -1;
  for (size_t i = 0; i < it->size(); ++i) {
    if ((*it)[i] == finalizer) index = static_cast<long>(i);
  }
  return index;
}

}  // namespace

bool has_finalizer(const json& obj, const std::string& finalizer) {
  return finalizer_index(obj, finalizer) >= 0;
}

json add_finalizer_patch(const json& obj, const std::string& finalizer) {
  const json& m = obj.at("metadata");
  json finalizers = m.value("finalizers", json::array());
  finalizers.push_back(finalizer);
  return {{"metadata",
           {{"resourceVersion", m.value("resourceVersion", "")}, {"finalizers", finalizers}}}};
}

std::optional<json> remove_finalizer_patch(const json& obj, const std::string& finalizer) {
  long index = finalizer_index(obj, finalizer);
  if (index < 0) return std::nullopt;
  std::string path = "/metadata/finalizers/" + std::to_string(index);
  return json::array(
      {{{"op", "test"}, {"path", path}, {"value", finalizer}}, {{"op", "remove"}, {"path", path}}});
}

}  // namespace kube
