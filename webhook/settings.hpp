#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gtoken::webhook {

// Google ID tokens live 3600 s whatever is asked (REFERENCE.md §1), so a token
// expiration cannot shorten the token itself: it bounds how old the token in
// the file may get, by making the agent refresh sooner. Below 600 s the agent
// would call the metadata server needlessly often.
inline constexpr std::int64_t kGoogleIdTokenLifetimeSeconds = 3600;
inline constexpr std::int64_t kMinTokenExpirationSeconds = 600;
inline constexpr std::int64_t kMaxTokenExpirationSeconds = kGoogleIdTokenLifetimeSeconds;

// Where a pod's web-identity token comes from.
enum class TokenSource {
  // A Google ID token, fetched and refreshed by the injected gtoken agent
  // (ServiceAccount annotation amazonaws.com/role-arn).
  Google,
  // A projected ServiceAccount token issued by the apiserver and refreshed
  // by the kubelet; no agent (eks.amazonaws.com/role-arn, as on EKS).
  Kubernetes,
};

// What one Kubernetes ServiceAccount is bound to, from its annotations or from
// the AwsRoleBinding that names it (the operator fills the same struct). Each
// source reads its own annotations for role, audience and expiration; region
// and containers are shared.
struct SaSettings {
  TokenSource token_source = TokenSource::Google;
  std::string role_arn;                 // empty: not bound, the pod is left alone
  std::optional<std::string> audience;  // unset: the source's default audience
  std::optional<std::string> region;    // unset: MutationConfig::default_region, if any
  std::vector<std::string> containers;  // allow-list by container name; empty: all
  // Google: unset means the agent's own schedule. Kubernetes: already within
  // [600, 86400]; unset means 86400 (a pod annotation may still override it).
  std::optional<std::int64_t> token_expiration_seconds;
  // Kubernetes only (eks.amazonaws.com/sts-regional-endpoints); unset: as
  // the Google source, regional exactly when a region is known.
  std::optional<bool> sts_regional_endpoints;
  // For the user, passed on by mutate_pod as admission warnings: values that
  // could not be used as written, and which source won when both role
  // annotations are set.
  std::vector<std::string> warnings;
};

// Reads the annotations listed in webhook/annotations.hpp. Values that cannot
// be used are dropped or clamped with a message in SaSettings::warnings; an
// absent or empty role ARN gives settings with an empty role_arn.
//
// Both amazonaws.com/role-arn and eks.amazonaws.com/role-arn: the Google
// source when iam.gke.io/gcp-service-account is set too (its setup is
// complete, and it is what the controller writes for a Google binding),
// otherwise the Kubernetes source (a Google token could not be had); with a
// warning either way.
SaSettings settings_from_service_account(const nlohmann::json& service_account);

// AWS IAM role ARN shape: arn:<partition>:iam::<12 digits>:role/<path/name>,
// 20–2048 characters (the STS RoleArn limits).
bool is_valid_role_arn(std::string_view arn);

// Lower-case letters, digits and dashes, e.g. us-east-1, us-gov-west-1.
bool is_valid_region(std::string_view region);

}  // namespace gtoken::webhook
