#pragma once
// What a trust policy sees of an AssumeRoleWithWebIdentity call: the
// Principal.Federated value the token's issuer stands for, and the condition
// keys STS fills from the token's claims (REFERENCE.md §3, §6):
// - Google (provider "accounts.google.com"): accounts.google.com:sub = sub,
//   :aud = azp when present (else aud), :oaud = aud.
// - An IAM OIDC provider (arn:PARTITION:iam::ACCOUNT:oidc-provider/HOST/PATH):
//   HOST/PATH:sub = sub, HOST/PATH:aud = azp when present (else aud).
// Keys STS does not define for these providers (an email, say) are absent,
// so a condition on them fails as it does at STS.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace gtoken::aws {

inline constexpr std::string_view kGoogleProvider = "accounts.google.com";
inline constexpr std::string_view kAssumeRoleWithWebIdentity = "sts:AssumeRoleWithWebIdentity";

struct WebIdentityRequest {
  std::string provider;    // matched against Principal.Federated
  std::string key_prefix;  // "accounts.google.com" or HOST/PATH
  // Condition keys, lower-cased (IAM compares key names case-insensitively),
  // to their values; a multi-valued claim (aud as a list) has several.
  std::map<std::string, std::vector<std::string>> context;
};

// HOST/PATH of arn:PARTITION:iam::ACCOUNT:oidc-provider/HOST/PATH, "" when
// `provider_arn` is not of that shape.
std::string oidc_provider_key_prefix(std::string_view provider_arn);

// Throws std::invalid_argument when `provider` is neither Google nor an OIDC
// provider ARN, or `claims` is not a JSON object.
WebIdentityRequest web_identity_request(std::string_view provider, const nlohmann::json& claims);

}  // namespace gtoken::aws
