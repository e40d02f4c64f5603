#include "aws/web_identity.hpp"

#include <stdexcept>

#include "aws/ascii_case.hpp"

namespace gtoken::aws {

namespace {

// A claim's values as text; an absent, null or empty claim has none.
std::vector<std::string> claim_values(const nlohmann::json& claims, const char* name) {
  std::vector<std::string> out;
  const auto it = claims.find(name);
  if (it == claims.end()) return out;
  auto add = [&out](const nlohmann::json& v) {
    if (v.is_string()) {
      out.push_back(v.get<std::string>());
    } else if (v.is_number() || v.is_boolean()) {
      out.push_back(v.dump());
    }
  };
  if (it->is_array()) {
    for (const auto& v : *it) add(v);
  } else {
    add(*it);
  }
  return out;
}

void put(WebIdentityRequest& r, const std::string& claim, std::vector<std::string> values) {
  if (!values.empty()) r.context[ascii_lower(r.key_prefix + ":" + claim)] = std::move(values);
}

}  // namespace

std::string oidc_provider_key_prefix(std::string_view arn) {
  // arn:PARTITION:iam::ACCOUNT:oidc-provider/HOST/PATH
  if (arn.substr(0, 4) != "arn:") return "";
  const auto p_end = arn.find(':', 4);
  if (p_end == std::string_view::npos || p_end == 4 || arn.substr(p_end, 6) != ":iam::") return "";
  const auto a_end = arn.find(':', p_end + 6);
  if (a_end == std::string_view::npos || a_end == p_end + 6) return "";
  constexpr std::string_view kType = "oidc-provider/";
  if (arn.substr(a_end + 1, kType.size()) != kType) return "";
  const std::string_view path = arn.substr(a_end + 1 + kType.size());
  if (path.empty() || path.front() == '/' || path.back() == '/') return "";
  return std::string(path);
}

WebIdentityRequest web_identity_request(std::string_view provider, const nlohmann::json& claims) {
  if (!claims.is_object()) throw std::invalid_argument("the token's claims are not an object");
  WebIdentityRequest r;
  r.provider = std::string(provider);
  auto azp = claim_values(claims, "azp");
  // An empty azp is no authorized party: STS falls back to aud.
  std::erase(azp, std::string());
  auto aud = claim_values(claims, "aud");
  if (provider == kGoogleProvider) {
    r.key_prefix = std::string(kGoogleProvider);
    put(r, "sub", claim_values(claims, "sub"));
    put(r, "aud", azp.empty() ? aud : azp);
    put(r, "oaud", aud);
    return r;
  }
  r.key_prefix = oidc_provider_key_prefix(provider);
  if (r.key_prefix.empty()) {
    throw std::invalid_argument("provider is neither accounts.google.com nor an OIDC provider ARN");
  }
  put(r, "sub", claim_values(claims, "sub"));
  put(r, "aud", azp.empty() ? aud : azp);
  return r;
}

}  // namespace gtoken::aws
