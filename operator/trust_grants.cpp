#include "operator/trust_grants.hpp"

namespace gtoken {

namespace {

bool same(const std::optional<aws::TrustGrant>& a, const std::optional<aws::TrustGrant>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return a->provider == b->provider && a->subject == b->subject && a->audience == b->audience;
}

}  // namespace

std::vector<std::string> TrustGrants::set(const std::string& key, const std::string& role_arn,
                                          std::optional<aws::TrustGrant> grant) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> changed;
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (grant) changed.push_back(role_arn);
    entries_[key] = Entry{role_arn, std::move(grant)};
    return changed;
  }
  Entry& e = it->second;
  if (e.role_arn != role_arn) {
    if (e.grant) changed.push_back(e.role_arn);
    if (grant) changed.push_back(role_arn);
  } else if (!same(e.grant, grant)) {
    changed.push_back(role_arn);
  }
  e = Entry{role_arn, std::move(grant)};
  return changed;
}

void TrustGrants::forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(key);
}

std::vector<aws::TrustGrant> TrustGrants::of(const std::string& role_arn) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<aws::TrustGrant> out;
  for (const auto& [key, e] : entries_) {
    if (e.role_arn == role_arn && e.grant) out.push_back(*e.grant);
  }
  return out;
}

std::optional<std::string> TrustGrants::granted_role(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.grant) return std::nullopt;
  return it->second.role_arn;
}

bool TrustGrants::complete(const std::string& role_arn, const kube::Store& bindings) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& obj : bindings.list()) {
    const auto& m = (*obj)["metadata"];
    if (m.contains("deletionTimestamp")) continue;
    const auto spec = obj->value("spec", nlohmann::json::object());
    if (spec.value("awsRoleArn", "") != role_arn) continue;
    const std::string key = m.value("namespace", "") + "/" + m.value("name", "");
    if (!entries_.count(key)) return false;
  }
  return true;
}

}  // namespace gtoken
