#include "aws/trust_evaluation.hpp"

#include <algorithm>
#include <optional>

#include "aws/ascii_case.hpp"
#include "aws/iam_wildcard.hpp"

namespace gtoken::aws {

const char* to_string(TrustOutcome outcome) {
  switch (outcome) {
    case TrustOutcome::Allowed:
      return "Allowed";
    case TrustOutcome::NoStatement:
      return "NoStatement";
    case TrustOutcome::ConditionFails:
      return "ConditionFails";
    case TrustOutcome::ExplicitDeny:
      return "ExplicitDeny";
  }
  return "Unknown";
}

namespace {

using Why = ConditionFailure::Why;

enum class Qualifier { None, ForAnyValue, ForAllValues };

enum class Match { Equals, EqualsIgnoreCase, Like, Null };

struct Operator {
  Qualifier qualifier = Qualifier::None;
  Match match = Match::Equals;
  bool negated = false;
  bool if_exists = false;
};

bool strip_prefix(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

bool strip_suffix(std::string_view& s, std::string_view suffix) {
  if (s.size() < suffix.size() || s.substr(s.size() - suffix.size()) != suffix) return false;
  s.remove_suffix(suffix.size());
  return true;
}

// Operator names are case-sensitive, as IAM's are.
std::optional<Operator> read_operator(std::string_view op) {
  Operator o;
  if (strip_prefix(op, "ForAnyValue:")) {
    o.qualifier = Qualifier::ForAnyValue;
  } else if (strip_prefix(op, "ForAllValues:")) {
    o.qualifier = Qualifier::ForAllValues;
  }
  o.if_exists = strip_suffix(op, "IfExists");
  if (op == "Null") {
    if (o.qualifier != Qualifier::None || o.if_exists) return std::nullopt;
    o.match = Match::Null;
    return o;
  }
  if (!strip_prefix(op, "String")) return std::nullopt;
  o.negated = strip_prefix(op, "Not");
  if (op == "Equals") {
    o.match = Match::Equals;
  } else if (op == "EqualsIgnoreCase") {
    o.match = Match::EqualsIgnoreCase;
  } else if (op == "Like") {
    o.match = Match::Like;
  } else {
    return std::nullopt;
  }
  return o;
}

bool value_matches(Match m, const std::string& actual, const std::string& expected) {
  switch (m) {
    case Match::Equals:
      return actual == expected;
    case Match::EqualsIgnoreCase:
      return ascii_lower(actual) == ascii_lower(expected);
    case Match::Like:
      return iam_wildcard_match(actual, expected);
    case Match::Null:
      return false;
  }
  return false;
}

bool truthy(const std::string& v) {
  const std::string l = ascii_lower(v);
  return l == "true" || l == "1" || l == "yes" || l == "on";
}

std::string claim_of(const std::string& key) {
  const auto colon = key.rfind(':');
  return colon == std::string::npos ? key : key.substr(colon + 1);
}

// nullopt: the entry holds.
std::optional<ConditionFailure> check(const ConditionEntry& c, const WebIdentityRequest& r) {
  ConditionFailure f{Why::Mismatch, c.op, c.key, claim_of(c.key), {}, c.values};
  const auto op = read_operator(c.op);
  if (!op) {
    f.why = Why::UnsupportedOperator;
    return f;
  }
  const auto it = r.context.find(ascii_lower(c.key));
  const bool absent = it == r.context.end() || it->second.empty();
  if (!absent) f.actual = it->second;
  if (op->match == Match::Null) {
    // Null holds when the key's absence is what the policy says; several
    // values are alternatives like any other's.
    for (const auto& want : c.values) {
      if (truthy(want) == absent) return std::nullopt;
    }
    f.why = absent ? Why::KeyAbsent : Why::Mismatch;
    return f;
  }
  if (absent) {
    if (op->if_exists || op->qualifier == Qualifier::ForAllValues ||
        (op->qualifier == Qualifier::None && op->negated)) {
      return std::nullopt;
    }
    f.why = Why::KeyAbsent;
    return f;
  }
  auto matches_one = [&](const std::string& a) {
    return std::any_of(c.values.begin(), c.values.end(),
                       [&](const std::string& e) { return value_matches(op->match, a, e); });
  };
  auto ok = [&](const std::string& a) { return matches_one(a) != op->negated; };
  const auto& actual = it->second;
  bool holds = false;
  switch (op->qualifier) {
    case Qualifier::None:
      // A single-valued operator on a multi-valued key: some value matches
      // (negated: none does).
      holds = op->negated ? std::none_of(actual.begin(), actual.end(), matches_one)
                          : std::any_of(actual.begin(), actual.end(), matches_one);
      break;
    case Qualifier::ForAnyValue:
      holds = std::any_of(actual.begin(), actual.end(), ok);
      break;
    case Qualifier::ForAllValues:
      holds = std::all_of(actual.begin(), actual.end(), ok);
      break;
  }
  if (holds) return std::nullopt;
  return f;
}

bool principal_matches(const TrustStatement& st, const WebIdentityRequest& r) {
  bool named = st.any_principal;
  if (!named) {
    if (auto it = st.principals.find("AWS"); it != st.principals.end()) {
      named = std::find(it->second.begin(), it->second.end(), "*") != it->second.end();
    }
  }
  if (!named) {
    if (auto it = st.principals.find("Federated"); it != st.principals.end()) {
      named = std::find(it->second.begin(), it->second.end(), r.provider) != it->second.end();
    }
  }
  return named != st.not_principal;
}

bool action_matches(const TrustStatement& st) {
  const bool listed = std::any_of(st.actions.begin(), st.actions.end(), [](const std::string& p) {
    return iam_wildcard_match(kAssumeRoleWithWebIdentity, p, /*ignore_case=*/true);
  });
  return listed != st.not_action;
}

std::string list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    out += (i ? ", \"" : "\"") + v[i] + "\"";
  }
  return out + "]";
}

std::string statement_name(const TrustVerdict& v) {
  std::string s = "statement " + std::to_string(v.statement);
  if (!v.sid.empty()) s += " (Sid " + v.sid + ")";
  return s;
}

std::string describe(const ConditionFailure& f) {
  switch (f.why) {
    case Why::UnsupportedOperator:
      return "condition operator " + f.op + " on " + f.key + " is not evaluated by gtoken";
    case Why::KeyAbsent:
      if (f.op == "Null") return f.op + " " + f.key + ": the token has no " + f.claim;
      return f.op + " " + f.key + ": the token has no " + f.claim + ", the policy wants " +
             list(f.expected);
    case Why::Mismatch:
      break;
  }
  return f.op + " " + f.key + ": the token has " + list(f.actual) + ", the policy wants " +
         list(f.expected);
}

}  // namespace

std::string TrustVerdict::message() const {
  switch (outcome) {
    case TrustOutcome::Allowed:
      return statement_name(*this) + " allows " + std::string(kAssumeRoleWithWebIdentity) +
             " for " + provider;
    case TrustOutcome::NoStatement:
      return "no Allow statement names Federated " + provider + " for " +
             std::string(kAssumeRoleWithWebIdentity);
    case TrustOutcome::ExplicitDeny: {
      std::string m = statement_name(*this) + " denies " + provider + " explicitly";
      for (const auto& f : failures) m += "; " + describe(f) + ", so it counts as matching";
      return m;
    }
    case TrustOutcome::ConditionFails: {
      std::string m = statement_name(*this) + ": ";
      for (std::size_t i = 0; i < failures.size(); ++i) {
        m += (i ? "; " : "") + describe(failures[i]);
      }
      return m;
    }
  }
  return "";
}

TrustVerdict evaluate_web_identity(const TrustPolicy& policy, const WebIdentityRequest& request) {
  TrustVerdict verdict;
  verdict.provider = request.provider;
  const TrustStatement* allow = nullptr;
  const TrustStatement* closest = nullptr;
  std::vector<ConditionFailure> closest_failures;
  for (const auto& st : policy.statements) {
    if (!principal_matches(st, request) || !action_matches(st)) continue;
    std::vector<ConditionFailure> failures;
    for (const auto& c : st.conditions) {
      if (auto f = check(c, request)) failures.push_back(std::move(*f));
    }
    if (st.effect == Effect::Deny) {
      const bool holds = std::all_of(failures.begin(), failures.end(), [](const auto& f) {
        return f.why == Why::UnsupportedOperator;  // fail closed
      });
      if (holds) {
        verdict.outcome = TrustOutcome::ExplicitDeny;
        verdict.statement = st.index;
        verdict.sid = st.sid;
        verdict.failures = std::move(failures);
        return verdict;
      }
      continue;
    }
    if (failures.empty()) {
      if (!allow) allow = &st;
    } else if (!closest || failures.size() < closest_failures.size()) {
      closest = &st;
      closest_failures = std::move(failures);
    }
  }
  if (allow) {
    verdict.outcome = TrustOutcome::Allowed;
    verdict.statement = allow->index;
    verdict.sid = allow->sid;
  } else if (closest) {
    verdict.outcome = TrustOutcome::ConditionFails;
    verdict.statement = closest->index;
    verdict.sid = closest->sid;
    verdict.failures = std::move(closest_failures);
  }
  return verdict;
}

TrustVerdict evaluate_web_identity(std::string_view document, const WebIdentityRequest& request) {
  return evaluate_web_identity(parse_trust_policy(document), request);
}

bool admits_other_audience(const TrustPolicy& policy, const WebIdentityRequest& request) {
  WebIdentityRequest other = request;
  const char* claim = request.provider == kGoogleProvider ? ":oaud" : ":aud";
  // `.invalid` is reserved (RFC 2606): no real audience is this one.
  other.context[ascii_lower(request.key_prefix + claim)] = {"gtoken.invalid/another-audience"};
  return evaluate_web_identity(policy, other).allowed();
}

}  // namespace gtoken::aws
