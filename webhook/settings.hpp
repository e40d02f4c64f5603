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

// What one Kubernetes ServiceAccount is bound to, from its annotations or from
// the AwsRoleBinding that names it (the operator fills the same struct).
struct SaSettings {
  std::string role_arn;                                  // empty: not bound, the pod is left alone
  std::optional<std::string> audience;                   // unset: MutationConfig::default_audience
  std::optional<std::string> region;                     // unset: no region env vars
  std::vector<std::string> containers;                   // allow-list by container name; empty: all
  std::optional<std::int64_t> token_expiration_seconds;  // unset: agent default
};

// Reads the annotations listed in webhook/annotations.hpp. Values that cannot
// be used are dropped with a message appended to *warnings (when given); an
// absent or empty role ARN gives settings with an empty role_arn.
SaSettings settings_from_service_account(const nlohmann::json& service_account,
                                         std::vector<std::string>* warnings = nullptr);

// AWS IAM role ARN shape: arn:<partition>:iam::<12 digits>:role/<path/name>,
// 20–2048 characters (the STS RoleArn limits).
bool is_valid_role_arn(std::string_view arn);

// Lower-case letters, digits and dashes, e.g. us-east-1, us-gov-west-1.
bool is_valid_region(std::string_view region);

}  // namespace gtoken::webhook
