#include "operator/policy.hpp"

#include <cctype>
#include <string_view>

namespace gtoken {

std::string workload_identity_member(const std::string& project, const std::string& ns,
                                     const std::string& ksa) {
  return "serviceAccount:" + project + ".svc.id.goog[" + ns + "/" + ksa + "]";
}

namespace {

bool is_target(const json& binding, const std::string& role) {
  return binding.is_object() && binding.value("role", "") == role && !binding.contains("condition");
}

}  // namespace

bool has_member(const json& policy, const std::string& role, const std::string& member) {
  if (!policy.contains("bindings")) return false;
  for (const auto& b : policy["bindings"]) {
    if (!is_target(b, role) || !b.contains("members")) continue;
    for (const auto& m : b["members"]) {
      if (m == member) return true;
    }
  }
  return false;
}

PolicyEdit add_member(json policy, const std::string& role, const std::string& member) {
  if (has_member(policy, role, member)) return {false, std::move(policy)};
  if (!policy.contains("bindings") || !policy["bindings"].is_array()) {
    policy["bindings"] = json::array();
  }
  for (auto& b : policy["bindings"]) {
    if (is_target(b, role)) {
      if (!b.contains("members") || !b["members"].is_array()) b["members"] = json::array();
      b["members"].push_back(member);
      return {true, std::move(policy)};
    }
  }
  policy["bindings"].push_back({{"role", role}, {"members", json::array({member})}});
  return {true, std::move(policy)};
}

PolicyEdit remove_member(json policy, const std::string& role, const std::string& member) {
  if (!has_member(policy, role, member)) return {false, std::move(policy)};
  // Every unconditional binding of the role (Google merges them into one,
  // but a policy written by hand may carry several), every occurrence.
  auto& bindings = policy["bindings"];
  for (auto it = bindings.begin(); it != bindings.end();) {
    if (!is_target(*it, role) || !it->contains("members") || !(*it)["members"].is_array()) {
      ++it;
      continue;
    }
    auto& members = (*it)["members"];
    for (auto m = members.begin(); m != members.end();) {
      m = (*m == member) ? members.erase(m) : m + 1;
    }
    it = members.empty() ? bindings.erase(it) : it + 1;
  }
  return {true, std::move(policy)};
}

json aws_trust_policy(const std::string& gsa_unique_id, const std::string& audience) {
  // sub and aud (Google's azp) pin the GSA; oaud pins the audience the token
  // was minted for, so a token of the same GSA for another service is refused.
  return {{"Version", "2012-10-17"},
          {"Statement",
           json::array({{{"Effect", "Allow"},
                         {"Principal", {{"Federated", "accounts.google.com"}}},
                         {"Action", "sts:AssumeRoleWithWebIdentity"},
                         {"Condition",
                          {{"StringEquals",
                            {{"accounts.google.com:sub", gsa_unique_id},
                             {"accounts.google.com:aud", gsa_unique_id},
                             {"accounts.google.com:oaud", audience}}}}}}})}};
}

std::string oidc_provider_path(const std::string& issuer) {
  constexpr std::string_view kScheme = "https://";
  if (issuer.rfind(kScheme, 0) != 0 || issuer.size() == kScheme.size()) return "";
  std::string path = issuer.substr(kScheme.size());
  while (!path.empty() && path.back() == '/') path.pop_back();
  return path;
}

std::string oidc_provider_arn(const std::string& issuer, const std::string& role_arn) {
  // arn:PARTITION:iam::ACCOUNT:role/NAME
  const std::string path = oidc_provider_path(issuer);
  if (path.empty() || role_arn.rfind("arn:", 0) != 0) return "";
  const auto p_end = role_arn.find(':', 4);
  if (p_end == std::string::npos || role_arn.compare(p_end, 6, ":iam::") != 0) return "";
  const auto a_end = role_arn.find(':', p_end + 6);
  if (a_end == std::string::npos || a_end == p_end + 6) return "";
  return role_arn.substr(0, a_end) + ":oidc-provider/" + path;
}

json aws_oidc_trust_policy(const std::string& provider_arn, const std::string& provider_path,
                           const std::string& ns, const std::string& ksa,
                           const std::string& audience) {
  // sub pins the namespace and ServiceAccount; aud the client id the token
  // was issued for (AWS also checks it against the provider's list).
  return {{"Version", "2012-10-17"},
          {"Statement",
           json::array({{{"Effect", "Allow"},
                         {"Principal", {{"Federated", provider_arn}}},
                         {"Action", "sts:AssumeRoleWithWebIdentity"},
                         {"Condition",
                          {{"StringEquals",
                            {{provider_path + ":sub", "system:serviceaccount:" + ns + ":" + ksa},
                             {provider_path + ":aud", audience}}}}}}})}};
}

namespace {

// POSIX shell quoting: the command is meant to be pasted into a shell, and
// the audience comes from the binding's spec.
std::string shell_word(const std::string& s) {
  bool plain = !s.empty();
  for (unsigned char c : s) {
    plain = plain && (std::isalnum(c) || std::string_view("._:/-=@+,").find(static_cast<char>(c)) !=
                                              std::string_view::npos);
  }
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string oidc_provider_command(const std::string& issuer, const std::string& audience) {
  std::string url = issuer;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return "aws iam create-open-id-connect-provider --url " + shell_word(url) +
         " --client-id-list " + shell_word(audience);
}

}  // namespace gtoken
