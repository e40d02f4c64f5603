#include "aws/trust_statement_plan.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

#include "aws/json_spans.hpp"
#include "aws/trust_policy.hpp"
#include "aws/web_identity.hpp"

namespace gtoken::aws {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

TrustGrant google_grant(std::string gsa_unique_id, std::string audience) {
  return {std::string(kGoogleProvider), std::move(gsa_unique_id), std::move(audience)};
}

TrustGrant kubernetes_grant(std::string provider_arn, std::string_view ns, std::string_view ksa,
                            std::string audience) {
  return {std::move(provider_arn),
          "system:serviceaccount:" + std::string(ns) + ":" + std::string(ksa), std::move(audience)};
}

const char* to_string(TrustPlan::Outcome outcome) {
  switch (outcome) {
    case TrustPlan::Outcome::Unchanged:
      return "Unchanged";
    case TrustPlan::Outcome::Update:
      return "Update";
    case TrustPlan::Outcome::TooLarge:
      return "TooLarge";
  }
  return "Unknown";
}

std::string TrustPlan::message() const {
  if (outcome != Outcome::TooLarge) return "";
  return "the trust policy would be " + std::to_string(size) +
         " characters (white space not counted), over the limit of " + std::to_string(limit);
}

namespace {

struct Desired {
  std::string sid;
  std::string text;  // compact JSON, fixed key order
  json value;        // for comparing with what a document holds
};

// One value alone, several as a list (the shape status.awsTrustPolicy shows
// for one binding, and the shortest).
ordered_json one_or_list(const std::set<std::string>& values) {
  if (values.size() == 1) return *values.begin();
  ordered_json list = ordered_json::array();
  for (const auto& v : values) list.push_back(v);
  return list;
}

Desired render(std::string sid, const std::string& provider, const std::string& audience,
               const std::set<std::string>& subjects) {
  ordered_json equals = ordered_json::object();
  if (provider == kGoogleProvider) {
    const std::string p(kGoogleProvider);
    // Google's sub and azp are both the GSA's uniqueId.
    equals[p + ":sub"] = one_or_list(subjects);
    equals[p + ":aud"] = one_or_list(subjects);
    equals[p + ":oaud"] = audience;
  } else {
    const std::string p = oidc_provider_key_prefix(provider);
    equals[p + ":sub"] = one_or_list(subjects);
    equals[p + ":aud"] = audience;
  }
  ordered_json st = ordered_json::object();
  st["Sid"] = sid;
  st["Effect"] = "Allow";
  st["Principal"] = {{"Federated", provider}};
  st["Action"] = std::string(kAssumeRoleWithWebIdentity);
  st["Condition"] = {{"StringEquals", equals}};
  std::string text = st.dump();
  return {std::move(sid), text, json::parse(text)};
}

Desired render_none() {
  ordered_json st = ordered_json::object();
  st["Sid"] = std::string(kGtokenNoneSid);
  st["Effect"] = "Allow";
  st["Principal"] = {{"Federated", std::string(kGoogleProvider)}};
  st["Action"] = std::string(kAssumeRoleWithWebIdentity);
  st["Condition"] = {{"Null", {{std::string(kGoogleProvider) + ":sub", "true"}}}};
  std::string text = st.dump();
  return {std::string(kGtokenNoneSid), text, json::parse(text)};
}

// IAM takes policy documents of tab, line feed, carriage return and
// U+0020..U+00FF only (botocore's policyDocumentType pattern); a grant's
// strings are written into one as they are.
bool iam_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80) continue;
    // U+0080..U+00FF is C2 80..C3 BF in UTF-8.
    if ((c == 0xC2 || c == 0xC3) && i + 1 < s.size() &&
        (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) {
      ++i;
      continue;
    }
    return false;
  }
  return true;
}

std::vector<Desired> desired_statements(const std::vector<TrustGrant>& grants) {
  // (Google first, provider, audience) -> subjects
  std::map<std::tuple<bool, std::string, std::string>, std::set<std::string>> groups;
  for (const auto& g : grants) {
    const bool google = g.provider == kGoogleProvider;
    if (!google && oidc_provider_key_prefix(g.provider).empty()) {
      throw std::invalid_argument(
          "grant provider is neither accounts.google.com nor an OIDC "
          "provider ARN");
    }
    if (g.subject.empty() || g.audience.empty()) {
      throw std::invalid_argument("grant with an empty subject or audience");
    }
    if (!iam_text(g.subject) || !iam_text(g.audience) || !iam_text(g.provider)) {
      throw std::invalid_argument(
          "grant with a character IAM does not take in a policy "
          "(only U+0020..U+00FF)");
    }
    groups[{!google, g.provider, g.audience}].insert(g.subject);
  }
  std::vector<Desired> out;
  int google_n = 0, oidc_n = 0;
  for (const auto& [key, subjects] : groups) {
    const auto& [oidc, provider, audience] = key;
    const int n = oidc ? ++oidc_n : ++google_n;
    std::string sid = std::string(kGtokenSidPrefix) + (oidc ? "Kubernetes" : "Google");
    if (n > 1) sid += std::to_string(n);
    out.push_back(render(std::move(sid), provider, audience, subjects));
  }
  return out;
}

std::optional<std::string> owned_sid(const json& st) {
  if (!st.is_object()) return std::nullopt;
  const auto it = st.find("Sid");
  if (it == st.end() || !it->is_string()) return std::nullopt;
  std::string sid = it->get<std::string>();
  if (sid.rfind(kGtokenSidPrefix, 0) != 0) return std::nullopt;
  return sid;
}

struct Piece {
  std::string text;
  std::optional<std::string> sep_before;  // the original separator (with its comma)
};

}  // namespace

TrustPlan plan_trust_statements(std::string_view document, const std::vector<TrustGrant>& grants,
                                const TrustPlanOptions& options) {
  (void)parse_trust_policy(document);  // the typed errors, before any edit
  std::vector<Desired> desired = desired_statements(grants);

  const Span doc = json_document(document);
  Span statement{};
  for (const auto& m : json_object_members(document, doc)) {
    if (m.key == "Statement") statement = m.value;
  }
  const bool lone = document[statement.begin] != '[';
  const std::vector<Span> elements =
      lone ? std::vector<Span>{statement} : json_array_elements(document, statement);

  std::vector<json> values;
  bool foreign_left = false;
  for (const auto& e : elements) {
    values.push_back(json::parse(e.in(document)));
    foreign_left = foreign_left || !owned_sid(values.back());
  }
  if (desired.empty() && !foreign_left) desired.push_back(render_none());

  std::map<std::string, const Desired*> by_sid;
  for (const auto& d : desired) by_sid[d.sid] = &d;
  std::set<std::string> placed;
  std::vector<Piece> pieces;
  for (std::size_t i = 0; i < elements.size(); ++i) {
    std::optional<std::string> sep;
    if (!lone && i > 0) {
      sep = std::string(
          document.substr(elements[i - 1].end, elements[i].begin - elements[i - 1].end));
    }
    const auto sid = owned_sid(values[i]);
    if (!sid) {
      pieces.push_back({std::string(elements[i].in(document)), sep});
      continue;
    }
    const auto want = by_sid.find(*sid);
    if (want == by_sid.end() || !placed.insert(*sid).second) continue;  // gone, or a duplicate
    // Same content in another spelling (IAM's, or a hand's) stays as it is.
    const bool same = values[i] == want->second->value;
    pieces.push_back({same ? std::string(elements[i].in(document)) : want->second->text, sep});
  }
  for (const auto& d : desired) {
    if (!placed.count(d.sid)) pieces.push_back({d.text, std::nullopt});
  }

  std::string value;
  if (lone && pieces.size() == 1) {
    value = pieces.front().text;
  } else {
    std::string lead, trail, default_sep = ",";
    if (!lone && !elements.empty()) {
      lead = std::string(
          document.substr(statement.begin + 1, elements.front().begin - statement.begin - 1));
      trail = std::string(
          document.substr(elements.back().end, statement.end - 1 - elements.back().end));
      if (elements.size() >= 2) {
        const Span a = elements[elements.size() - 2], b = elements.back();
        default_sep = std::string(document.substr(a.end, b.begin - a.end));
      } else {
        default_sep = "," + lead;
      }
    }
    value = "[" + lead;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      if (i > 0) value += pieces[i].sep_before.value_or(default_sep);
      value += pieces[i].text;
    }
    value += trail + "]";
  }

  TrustPlan plan;
  plan.document = std::string(document.substr(0, statement.begin)) + value +
                  std::string(document.substr(statement.end));
  plan.size = iam_policy_size(plan.document);
  plan.limit = options.size_limit;
  for (const auto& p : pieces) {
    if (auto sid = owned_sid(json::parse(p.text))) plan.sids.push_back(*sid);
  }
  plan.placeholder = plan.sids.size() == 1 && plan.sids.front() == kGtokenNoneSid;
  if (plan.document == document) {
    plan.outcome = TrustPlan::Outcome::Unchanged;
  } else if (plan.size > plan.limit) {
    plan.outcome = TrustPlan::Outcome::TooLarge;
  } else {
    plan.outcome = TrustPlan::Outcome::Update;
  }
  return plan;
}

}  // namespace gtoken::aws
