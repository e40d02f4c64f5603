#pragma once
// The Kubernetes token source's own rules: the projected ServiceAccount
// token the kubelet keeps fresh (no agent), and how the EKS webhook's token
// expiration annotation is read. Facts from aws/amazon-eks-pod-identity-webhook
// (pkg/constants.go, pkg/cache, pkg/handler); see docs/webhook.md.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "contract/gtoken.hpp"

namespace gtoken::webhook {

inline constexpr std::int64_t kKubernetesMinTokenExpirationSeconds =
    contract::kKubernetesMinTokenExpirationSeconds;
inline constexpr std::int64_t kKubernetesDefaultTokenExpirationSeconds =
    contract::kKubernetesDefaultTokenExpirationSeconds;
inline constexpr std::int64_t kKubernetesMaxTokenExpirationSeconds =
    contract::kKubernetesMaxTokenExpirationSeconds;

// One eks.amazonaws.com/token-expiration value (`key` names where it came
// from, for the warning). Not a Go decimal integer: nullopt, and the caller
// falls back to the next source as the EKS webhook does (pod → ServiceAccount
// → 86400). Below 600: 600, as the EKS webhook does. Above 86400: 86400,
// where the EKS webhook writes the value as it is and relies on EKS's
// apiserver to cut the token to 24 h; other apiservers (GKE's) may not.
// `warning` is set whenever the value was not used as written.
std::optional<std::int64_t> read_token_expiration(std::string_view value, std::string_view key,
                                                  std::string& warning);

// The projected volume: one serviceAccountToken source, file
// contract::kKubernetesTokenFile; to a JsonTextWriter or JsonDomWriter
// (webhook/json_writer.hpp), keys in dump's order.
template <class Writer>
void write_projected_token_volume(Writer& w, std::string_view name, std::string_view audience,
                                  std::int64_t expiration_seconds) {
  w.begin_object();
  w.key("name");
  w.string(name);
  w.key("projected");
  w.begin_object();
  w.key("sources");
  w.begin_array();
  w.begin_object();
  w.key("serviceAccountToken");
  w.begin_object();
  w.key("audience");
  w.string(audience);
  w.key("expirationSeconds");
  w.integer(expiration_seconds);
  w.key("path");
  w.string(contract::kKubernetesTokenFile);
  w.end_object();
  w.end_object();
  w.end_array();
  w.end_object();
  w.end_object();
}

// The same volume as a document.
nlohmann::json projected_token_volume(std::string_view name, std::string_view audience,
                                      std::int64_t expiration_seconds);

// Whether `volume` (a pod's volume entry) is such a volume, whatever its
// audience and expiration.
bool is_projected_token_volume(const nlohmann::json& volume);

// AWS_WEB_IDENTITY_TOKEN_FILE. On Windows nodes the same file as a Windows
// path (C:\var\run\...), as the EKS webhook writes it; the mount path stays.
std::string kubernetes_token_file(bool windows);

}  // namespace gtoken::webhook
