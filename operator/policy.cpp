#include "operator/policy.hpp"

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

}  // namespace gtoken
