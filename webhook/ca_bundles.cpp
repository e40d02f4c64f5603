#include "webhook/ca_bundles.hpp"

#include "webhook/base64.hpp"
#include "webhook/certs.hpp"

namespace gtoken::webhook {

using nlohmann::json;

std::vector<std::vector<std::string>> ca_bundles_of(const json& config) {
  std::vector<std::vector<std::string>> out;
  const auto webhooks = config.find("webhooks");
  if (webhooks == config.end() || !webhooks->is_array()) return out;
  for (const auto& w : *webhooks) {
    std::vector<std::string> certs;
    if (w.is_object() && w.contains("clientConfig") && w["clientConfig"].is_object()) {
      const auto& cc = w["clientConfig"];
      if (cc.contains("caBundle") && cc["caBundle"].is_string()) {
        if (auto pem = base64_decode(cc["caBundle"].get<std::string>())) {
          certs = split_certificates(*pem);
        }
      }
    }
    out.push_back(std::move(certs));
  }
  return out;
}

bool ca_bundle_differs(const json& config, const std::string& bundle_base64) {
  const auto webhooks = config.find("webhooks");
  if (webhooks == config.end() || !webhooks->is_array()) return false;
  for (const auto& w : *webhooks) {
    if (!w.is_object() || !w.contains("clientConfig") || !w["clientConfig"].is_object() ||
        !w["clientConfig"].contains("caBundle") || !w["clientConfig"]["caBundle"].is_string() ||
        w["clientConfig"]["caBundle"].get<std::string>() != bundle_base64) {
      return true;
    }
  }
  return false;
}

json with_ca_bundle(json config, const std::string& bundle_base64) {
  if (config.contains("webhooks") && config["webhooks"].is_array()) {
    for (auto& w : config["webhooks"]) {
      if (!w.is_object()) continue;
      if (!w["clientConfig"].is_object()) w["clientConfig"] = json::object();
      w["clientConfig"]["caBundle"] = bundle_base64;
    }
  }
  if (config.contains("metadata") && config["metadata"].is_object()) {
    config["metadata"].erase("managedFields");
  }
  return config;
}

}  // namespace gtoken::webhook
