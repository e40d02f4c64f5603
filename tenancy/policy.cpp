#include "tenancy/policy.hpp"

#include "contract/gtoken.hpp"

#include <algorithm>
#include <stdexcept>

namespace gtoken::tenancy {

using nlohmann::json;

namespace {

constexpr std::string_view kGsaSuffix = ".iam.gserviceaccount.com";

std::vector<std::string> strings_at(const json& spec, const char* key) {
  std::vector<std::string> out;
  if (!spec.contains(key)) return out;
  if (!spec[key].is_array()) throw std::invalid_argument(std::string("spec.") + key + " must be a list");
  for (const auto& v : spec[key]) {
    if (!v.is_string()) throw std::invalid_argument(std::string("spec.") + key + " holds a non-string");
    out.push_back(v.get<std::string>());
  }
  return out;
}


bool is_account_id(std::string_view s) {
  return s.size() == 12 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// arn:PARTITION:iam::ACCOUNT:role/...: the account field.
std::string account_of(std::string_view arn) {
  size_t field = 0, start = 0;
  for (size_t i = 0; i <= arn.size(); ++i) {
    if (i == arn.size() || arn[i] == ':') {
      if (field == 4) return std::string(arn.substr(start, i - start));
      ++field;
      start = i + 1;
    }
  }
  return "";
}

bool namespace_matches(const Policy& p, const std::string& ns, const json& labels) {
  if (std::find(p.namespace_names.begin(), p.namespace_names.end(), ns) != p.namespace_names.end()) {
    return true;
  }
  // Labels of a namespace not seen yet are unknown: only a name can match.
  return p.namespace_selector && !labels.is_null() && p.namespace_selector->matches(labels);
}

// A GSA pattern matches `gsa`; outside the Workload Identity project only
// when the pattern spells that project out (no '*' in its domain), so a
// catch-all such as "*" never reaches into another project.
bool gsa_matches(const std::string& pattern, const std::string& gsa, const std::string& project) {
  if (!glob_match(pattern, gsa)) return false;
  const std::string gsa_project = project_of(gsa);
  if (!gsa_project.empty() && gsa_project == project) return true;
  auto at = pattern.find('@');
  if (at == std::string::npos) return false;
  std::string_view domain = std::string_view(pattern).substr(at + 1);
  return domain.find('*') == std::string_view::npos && !gsa_project.empty() &&
         project_of(pattern) == gsa_project;
}

bool role_matches(const std::string& pattern, const std::string& arn) {
  if (is_account_id(pattern)) return account_of(arn) == pattern;
  return glob_match(pattern, arn);
}

// The audience a policy without audiences allows, per token source.
std::string default_audience_for(const Request& r, const Settings& s) {
  return r.kubernetes ? std::string(contract::kKubernetesDefaultAudience) : s.default_audience;
}

bool audience_matches(const Policy& p, const Request& r, const Settings& s) {
  const std::string& audience = r.audience;
  if (p.audiences.empty()) return audience == default_audience_for(r, s);
  return std::any_of(p.audiences.begin(), p.audiences.end(),
                     [&](const std::string& a) { return glob_match(a, audience); });
}

std::string q(const std::string& s) { return "\"" + s + "\""; }

std::string names_of(const std::vector<const Policy*>& ps) {
  std::string out;
  for (const auto* p : ps) out += (out.empty() ? "" : ", ") + p->name;
  return out;
}

bool older(const Request& a, const Request& b) {
  // Bindings not created yet (an admission CREATE) are the newest.
  if (a.creation_timestamp.empty() != b.creation_timestamp.empty()) return !a.creation_timestamp.empty();
  if (a.creation_timestamp != b.creation_timestamp) return a.creation_timestamp < b.creation_timestamp;
  if (a.namespace_ != b.namespace_) return a.namespace_ < b.namespace_;
  return a.name < b.name;
}

}  // namespace

std::string project_of(std::string_view email) {
  auto at = email.find('@');
  if (at == std::string_view::npos) return "";
  std::string_view domain = email.substr(at + 1);
  if (domain.size() <= kGsaSuffix.size() ||
      domain.substr(domain.size() - kGsaSuffix.size()) != kGsaSuffix) {
    return "";
  }
  return std::string(domain.substr(0, domain.size() - kGsaSuffix.size()));
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative wildcard match with one backtrack point: linear-ish, no recursion.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Request request_from_binding(const json& b, const std::string& default_audience) {
  Request r;
  const json meta = b.value("metadata", json::object());
  const json spec = b.value("spec", json::object());
  if (!meta.is_object() || !spec.is_object()) return r;
  r.namespace_ = meta.value("namespace", "");
  r.name = meta.value("name", "");
  r.creation_timestamp = meta.value("creationTimestamp", "");
  r.kubernetes = spec.value("tokenSource", "") == contract::kTokenSourceKubernetes;
  if (!r.kubernetes) r.gcp_service_account = spec.value("gcpServiceAccount", "");
  r.aws_role_arn = spec.value("awsRoleArn", "");
  const std::string audience = spec.value("audience", "");
  r.audience = !audience.empty() ? audience
               : r.kubernetes    ? std::string(contract::kKubernetesDefaultAudience)
                                 : default_audience;
  return r;
}

std::optional<Policy> parse_policy(const json& obj, std::string& error) {
  try {
    Policy p;
    p.name = obj.at("metadata").value("name", "");
    const json spec = obj.value("spec", json::object());
    if (!spec.is_object()) throw std::invalid_argument("spec must be an object");
    if (spec.contains("namespaces")) {
      const json& ns = spec["namespaces"];
      if (!ns.is_object()) throw std::invalid_argument("spec.namespaces must be an object");
      p.namespace_names = strings_at(ns, "names");
      if (ns.contains("selector")) p.namespace_selector = kube::LabelSelector::from_json(ns["selector"]);
    }
    p.gcp_service_accounts = strings_at(spec, "gcpServiceAccounts");
    p.aws_roles = strings_at(spec, "awsRoles");
    p.audiences = strings_at(spec, "audiences");
    if (spec.contains("tokenSources")) p.token_sources = strings_at(spec, "tokenSources");
    if (spec.contains("exclusive")) {
      if (!spec["exclusive"].is_boolean()) throw std::invalid_argument("spec.exclusive must be a boolean");
      p.exclusive = spec["exclusive"].get<bool>();
    }
    if (spec.contains("trustPolicy")) {
      const json& t = spec["trustPolicy"];
      if (t != "Verify" && t != "Apply") {
        throw std::invalid_argument("spec.trustPolicy must be Verify or Apply");
      }
      p.apply_trust = t == "Apply";
    }
    return p;
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
}

Verdict evaluate(const Request& r, const std::vector<Policy>& policies, const json& labels,
                 const Settings& s, const std::vector<Request>& others) {
  Verdict v;
  auto deny = [&](Denial d, std::string message) {
    v.denial = d;
    v.message = std::move(message);
    return v;
  };
  if (r.kubernetes && !s.oidc_issuer.empty() && r.audience == s.oidc_issuer) {
    return deny(Denial::Audience,
                "audience " + q(r.audience) +
                    " is the cluster's own token issuer: the apiserver accepts such a token as a "
                    "credential for this cluster, so no binding may send it to AWS");
  }
  if (!r.kubernetes && !s.operator_gsa.empty() && r.gcp_service_account == s.operator_gsa) {
    return deny(Denial::OperatorServiceAccount,
                r.gcp_service_account +
                    " is the operator's own Google service account: no binding may use it");
  }

  // Narrow the policies one field at a time, so the message names the first
  // field no policy allows.
  std::vector<const Policy*> ns_ok;
  for (const auto& p : policies) {
    if (namespace_matches(p, r.namespace_, labels)) ns_ok.push_back(&p);
  }
  if (ns_ok.empty()) {
    return deny(Denial::Namespace,
                "no AwsRoleBindingPolicy allows namespace " + q(r.namespace_) +
                    (r.kubernetes ? " to bind AWS roles" : " to bind Google service accounts"));
  }
  const std::string source = r.kubernetes ? contract::kTokenSourceKubernetes
                                          : contract::kTokenSourceGoogle;
  std::vector<const Policy*> source_ok;
  for (const auto* p : ns_ok) {
    if (std::find(p->token_sources.begin(), p->token_sources.end(), source) !=
        p->token_sources.end()) {
      source_ok.push_back(p);
    }
  }
  if (source_ok.empty()) {
    return deny(Denial::TokenSource,
                "no AwsRoleBindingPolicy allows namespace " + q(r.namespace_) +
                    " to use tokenSource " + source + " (policies for this namespace: " +
                    names_of(ns_ok) + "; a policy without tokenSources allows only Google)");
  }
  ns_ok = std::move(source_ok);
  std::vector<const Policy*> gsa_ok;
  bool other_project_named = false;  // a pattern matched but did not name the project
  // Kubernetes-issued tokens involve no GSA: the namespace, role and
  // audience decide.
  if (r.kubernetes) gsa_ok = ns_ok;
  for (const auto* p : r.kubernetes ? std::vector<const Policy*>{} : ns_ok) {
    for (const auto& pat : p->gcp_service_accounts) {
      if (gsa_matches(pat, r.gcp_service_account, s.project)) {
        gsa_ok.push_back(p);
        break;
      }
      other_project_named |= glob_match(pat, r.gcp_service_account);
    }
  }
  if (gsa_ok.empty()) {
    const std::string gsa_project = project_of(r.gcp_service_account);
    if (other_project_named && gsa_project != s.project) {
      return deny(Denial::Project,
                  "Google service account " + r.gcp_service_account +
                      " is outside the Workload Identity project " + q(s.project) +
                      ": a policy must name its project explicitly (e.g. *@" + gsa_project +
                      std::string(kGsaSuffix) + ")");
    }
    return deny(Denial::GcpServiceAccount,
                "no AwsRoleBindingPolicy allows namespace " + q(r.namespace_) +
                    " to bind Google service account " + r.gcp_service_account +
                    " (policies for this namespace: " + names_of(ns_ok) + ")");
  }
  std::vector<const Policy*> role_ok;
  for (const auto* p : gsa_ok) {
    if (std::any_of(p->aws_roles.begin(), p->aws_roles.end(),
                    [&](const std::string& pat) { return role_matches(pat, r.aws_role_arn); })) {
      role_ok.push_back(p);
    }
  }
  if (role_ok.empty()) {
    return deny(Denial::AwsRole, "no AwsRoleBindingPolicy allows namespace " + q(r.namespace_) +
                                     " and " +
                                     (r.kubernetes ? "Kubernetes-issued tokens"
                                                   : r.gcp_service_account) +
                                     " to assume AWS role " + r.aws_role_arn +
                                     " (policies: " + names_of(gsa_ok) + ")");
  }
  std::vector<const Policy*> aud_ok;
  for (const auto* p : role_ok) {
    if (audience_matches(*p, r, s)) aud_ok.push_back(p);
  }
  if (aud_ok.empty()) {
    return deny(Denial::Audience, "no AwsRoleBindingPolicy allows audience " + q(r.audience) +
                                      " for namespace " + q(r.namespace_) + " and " +
                                      r.aws_role_arn + " (policies: " + names_of(role_ok) +
                                      "; a policy without audiences allows only " +
                                      q(default_audience_for(r, s)) + ")");
  }

  // Exclusivity binds only when every allowing policy asks for it.
  const bool all_exclusive =
      std::all_of(aud_ok.begin(), aud_ok.end(), [](const Policy* p) { return p->exclusive; });
  if (all_exclusive && !r.kubernetes) {
    // The holder: the oldest binding of this GSA in a namespace the same
    // policies let bind it.
    const Request* holder = nullptr;
    for (const auto& o : others) {
      if (o.gcp_service_account != r.gcp_service_account) continue;
      if (o.namespace_ == r.namespace_ && o.name == r.name) continue;
      bool eligible = std::any_of(aud_ok.begin(), aud_ok.end(), [&](const Policy* p) {
        return std::find(p->namespace_names.begin(), p->namespace_names.end(), o.namespace_) !=
                   p->namespace_names.end() ||
               p->namespace_selector.has_value();
      });
      if (eligible && (!holder || older(o, *holder))) holder = &o;
    }
    if (holder && holder->namespace_ != r.namespace_ && older(*holder, r)) {
      return deny(Denial::Exclusive, "Google service account " + r.gcp_service_account +
                                         " is bound exclusively by namespace " +
                                         q(holder->namespace_) + " (AwsRoleBinding " +
                                         holder->namespace_ + "/" + holder->name +
                                         ") under policy " + names_of(aud_ok));
    }
  }
  v.allowed = true;
  for (const auto* p : aud_ok) {
    v.allowed_by.push_back(p->name);
    v.apply_trust = v.apply_trust || p->apply_trust;
  }
  return v;
}

}  // namespace gtoken::tenancy
