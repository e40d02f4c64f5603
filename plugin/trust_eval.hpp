#pragma once
// Would AWS STS let a token with these claims assume a role with this trust
// policy? Evaluated the way IAM evaluates a role's trust policy for
// AssumeRoleWithWebIdentity (an explicit Deny wins, else some Allow must
// match action, principal and every condition), not compared as text: a
// policy written by hand with StringLike, arrays or extra statements is
// judged by what it means.
//
// Pure; claims are what `gtoken probe --claims` prints (iss, aud, sub, azp,
// email). The request context STS derives from them (REFERENCE.md §3, §6):
//   Google (iss accounts.google.com): accounts.google.com:sub = sub,
//     accounts.google.com:aud = azp (aud when there is no azp),
//     accounts.google.com:oaud = aud, accounts.google.com:email = email;
//     principal Federated "accounts.google.com".
//   Any other OIDC issuer https://P: P:sub = sub, P:aud = aud;
//     principal Federated arn:...:oidc-provider/P.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gtoken::plugin {

struct WebIdentityContext {
  std::string provider;  // "accounts.google.com" or the issuer's host and path
  // Condition keys, lower-cased (IAM compares them case-insensitively), to values.
  std::map<std::string, std::vector<std::string>> keys;
};

WebIdentityContext web_identity_context(const nlohmann::json& claims);

struct TrustVerdict {
  bool allowed = false;
  // Which statement allows or denies, or why none allows (the first key whose
  // value the policy does not accept, with both values).
  std::string explanation;
};

TrustVerdict evaluate_trust_policy(const nlohmann::json& policy, const nlohmann::json& claims);

}  // namespace gtoken::plugin
