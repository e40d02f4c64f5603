#include "webhook/kubernetes_token.hpp"

#include <algorithm>

#include "webhook/json_writer.hpp"
#include "webhook/text.hpp"

namespace gtoken::webhook {

using nlohmann::json;

std::optional<std::int64_t> read_token_expiration(std::string_view value, std::string_view key,
                                                  std::string& warning) {
  const auto seconds = parse_int64(value);
  if (!seconds) {
    warning = "ignoring " + std::string(key) + " \"" + std::string(value.substr(0, 32)) +
              "\": not a number of seconds";
    return std::nullopt;
  }
  const auto used = std::clamp(*seconds, kKubernetesMinTokenExpirationSeconds,
                               kKubernetesMaxTokenExpirationSeconds);
  if (used != *seconds) {
    warning = std::string(key) + " " + std::to_string(*seconds) + " out of range, using " +
              std::to_string(used);
  }
  return used;
}

json projected_token_volume(std::string_view name, std::string_view audience,
                            std::int64_t expiration_seconds) {
  JsonDomWriter out;
  write_projected_token_volume(out, name, audience, expiration_seconds);
  return out.take();
}

bool is_projected_token_volume(const json& volume) {
  if (!volume.is_object()) return false;
  const auto projected = volume.find("projected");
  if (projected == volume.end() || !projected->is_object()) return false;
  const auto sources = projected->find("sources");
  if (sources == projected->end() || !sources->is_array()) return false;
  return std::any_of(sources->begin(), sources->end(), [](const json& source) {
    if (!source.is_object()) return false;
    const auto token = source.find("serviceAccountToken");
    if (token == source.end() || !token->is_object()) return false;
    const auto path = token->find("path");
    return path != token->end() && *path == contract::kKubernetesTokenFile;
  });
}

std::string kubernetes_token_file(bool windows) {
  std::string path =
      std::string(contract::kKubernetesTokenMountPath) + "/" + contract::kKubernetesTokenFile;
  if (!windows) return path;
  std::replace(path.begin(), path.end(), '/', '\\');
  return "C:" + path;
}

}  // namespace gtoken::webhook
