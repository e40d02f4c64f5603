#include "plugin/trust_eval.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "plugin/facts.hpp"

namespace gtoken::plugin {

namespace {

using nlohmann::json;

constexpr const char* kAction = "sts:assumerolewithwebidentity";
constexpr const char* kGoogle = "accounts.google.com";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// IAM's wildcards: '*' any run of characters, '?' any one character.
bool like(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

std::string quoted_list(const std::vector<std::string>& v) {
  if (v.empty()) {
    return "absent";
  }
  std::string out;
  for (const auto& s : v) {
    out += (out.empty() ? "" : ", ") + json(s).dump();
  }
  return v.size() == 1 ? out : "[" + out + "]";
}

bool action_matches(const json& stmt) {
  auto matches = [](const json& v) {
    for (const auto& a : string_values(v)) {
      if (like(lower(a), kAction)) {
        return true;
      }
    }
    return false;
  };
  if (stmt.contains("Action")) {
    return matches(stmt["Action"]);
  }
  if (stmt.contains("NotAction")) {
    return !matches(stmt["NotAction"]);
  }
  return false;
}

bool principal_matches(const json& stmt, const WebIdentityContext& ctx) {
  auto it = stmt.find("Principal");
  if (it == stmt.end()) {
    return false;
  }
  if (it->is_string()) {
    return it->get<std::string>() == "*";
  }
  if (!it->is_object() || !it->contains("Federated")) {
    return false;
  }
  for (const auto& f : string_values((*it)["Federated"])) {
    if (ctx.provider == kGoogle) {
      if (f == kGoogle) {
        return true;
      }
      continue;
    }
    // arn:PARTITION:iam::ACCOUNT:oidc-provider/HOST/PATH
    constexpr std::string_view kMarker = ":oidc-provider/";
    const size_t at = f.find(kMarker);
    if (f.rfind("arn:", 0) == 0 && at != std::string::npos &&
        f.substr(at + kMarker.size()) == ctx.provider) {
      return true;
    }
  }
  return false;
}

// One condition operator applied to one key: "" when it holds, else why not.
struct Operator {
  enum Kind { Equals, Like, Null, Unknown } kind = Unknown;
  bool negated = false;
  bool ignore_case = false;
  bool if_exists = false;
  bool for_all = false;  // ForAllValues: (ForAnyValue: and none behave alike here)
};

Operator parse_operator(std::string name) {
  Operator op;
  if (name.rfind("ForAllValues:", 0) == 0) {
    op.for_all = true;
    name = name.substr(13);
  } else if (name.rfind("ForAnyValue:", 0) == 0) {
    name = name.substr(12);
  }
  if (name.size() > 8 && name.compare(name.size() - 8, 8, "IfExists") == 0) {
    op.if_exists = true;
    name.resize(name.size() - 8);
  }
  if (name == "Null") {
    op.kind = Operator::Null;
    return op;
  }
  if (name.rfind("String", 0) != 0) {
    return op;
  }
  name = name.substr(6);
  if (name.rfind("Not", 0) == 0) {
    op.negated = true;
    name = name.substr(3);
  }
  if (name == "Equals") {
    op.kind = Operator::Equals;
  } else if (name == "EqualsIgnoreCase") {
    op.kind = Operator::Equals;
    op.ignore_case = true;
  } else if (name == "Like") {
    op.kind = Operator::Like;
  }
  return op;
}

std::string check_condition(const std::string& op_name, const std::string& key,
                            const json& wanted_json, const WebIdentityContext& ctx) {
  const Operator op = parse_operator(op_name);
  const std::vector<std::string> wanted = string_values(wanted_json);
  auto it = ctx.keys.find(lower(key));
  const std::vector<std::string> have =
      it == ctx.keys.end() ? std::vector<std::string>{} : it->second;
  if (op.kind == Operator::Unknown) {
    return "condition operator " + op_name + " on " + key +
           " is not one this check evaluates, so it cannot say the policy allows the token";
  }
  if (op.kind == Operator::Null) {
    const bool want_absent = !wanted.empty() && lower(wanted[0]) == "true";
    if (have.empty() == want_absent) {
      return "";
    }
    return key + " is " + quoted_list(have) + ", the policy's Null wants it " +
           (want_absent ? "absent" : "present");
  }
  if (have.empty()) {
    if (op.if_exists || op.negated || op.for_all) {
      return "";
    }
    return key + " is absent from the token, the policy's " + op_name + " wants " +
           quoted_list(wanted);
  }
  auto one = [&](const std::string& v) {
    for (const auto& w : wanted) {
      if (op.kind == Operator::Like ? like(w, v)
                                    : (op.ignore_case ? lower(w) == lower(v) : w == v)) {
        return true;
      }
    }
    return false;
  };
  bool ok;
  if (op.negated) {
    ok = std::none_of(have.begin(), have.end(), one);
  } else if (op.for_all) {
    ok = std::all_of(have.begin(), have.end(), one);
  } else {
    ok = std::any_of(have.begin(), have.end(), one);
  }
  if (ok) {
    return "";
  }
  return key + " is " + quoted_list(have) + ", the policy's " + op_name + " wants " +
         (op.negated ? "anything but " : "") + quoted_list(wanted);
}

// "" when every condition of the statement holds.
std::string check_conditions(const json& stmt, const WebIdentityContext& ctx) {
  auto it = stmt.find("Condition");
  if (it == stmt.end()) {
    return "";
  }
  if (!it->is_object()) {
    return "the Condition is not an object";
  }
  for (const auto& [op, block] : it->items()) {
    if (!block.is_object()) {
      return "condition " + op + " is not an object";
    }
    for (const auto& [key, wanted] : block.items()) {
      if (std::string why = check_condition(op, key, wanted, ctx); !why.empty()) {
        return why;
      }
    }
  }
  return "";
}

}  // namespace

WebIdentityContext web_identity_context(const json& claims) {
  WebIdentityContext ctx;
  auto str = [&](const char* k) -> std::optional<std::string> {
    auto it = claims.find(k);
    if (it != claims.end() && it->is_string()) {
      return it->get<std::string>();
    }
    return std::nullopt;
  };
  std::string iss = str("iss").value_or("");
  if (iss.rfind("https://", 0) == 0) {
    iss = iss.substr(8);
  }
  while (!iss.empty() && iss.back() == '/') {
    iss.pop_back();
  }
  ctx.provider = iss;
  const std::vector<std::string> aud =
      claims.contains("aud") ? string_values(claims["aud"]) : std::vector<std::string>{};
  auto put = [&](const std::string& key, std::vector<std::string> v) {
    if (!v.empty()) {
      ctx.keys[lower(ctx.provider + ":" + key)] = std::move(v);
    }
  };
  if (auto sub = str("sub")) {
    put("sub", {*sub});
  }
  if (ctx.provider == kGoogle) {
    auto azp = str("azp");
    put("aud", azp ? std::vector<std::string>{*azp} : aud);
    put("oaud", aud);
    if (auto email = str("email")) {
      put("email", {*email});
    }
  } else {
    put("aud", aud);
  }
  return ctx;
}

TrustVerdict evaluate_trust_policy(const json& policy, const json& claims) {
  const WebIdentityContext ctx = web_identity_context(claims);
  if (ctx.provider.empty()) {
    return {false, "the token has no iss claim, so no federated principal can match it"};
  }
  if (!policy.is_object() || !policy.contains("Statement")) {
    return {false, "the trust policy has no Statement"};
  }
  json statements = policy["Statement"];
  if (statements.is_object()) {
    statements = json::array({statements});
  }
  if (!statements.is_array()) {
    return {false, "the trust policy's Statement is neither an object nor an array"};
  }
  std::optional<std::string> allowed_by;
  std::string first_refusal;
  for (size_t i = 0; i < statements.size(); ++i) {
    const json& s = statements[i];
    if (!s.is_object()) {
      continue;
    }
    const std::string name =
        "statement " + std::to_string(i + 1) +
        (s.contains("Sid") && s["Sid"].is_string() ? " (" + s["Sid"].get<std::string>() + ")" : "");
    const std::string effect = s.value("Effect", "");
    if (!action_matches(s)) {
      if (first_refusal.empty() && effect == "Allow") {
        first_refusal = name + " does not allow sts:AssumeRoleWithWebIdentity";
      }
      continue;
    }
    if (!principal_matches(s, ctx)) {
      if (first_refusal.empty() && effect == "Allow") {
        first_refusal =
            name + " names another principal than the token's issuer (" +
            (ctx.provider == kGoogle ? std::string(kGoogle) : "oidc-provider/" + ctx.provider) +
            ")";
      }
      continue;
    }
    const std::string why = check_conditions(s, ctx);
    if (effect == "Deny" && why.empty()) {
      return {false, name + " denies it explicitly"};
    }
    if (effect == "Allow") {
      if (why.empty()) {
        if (!allowed_by) {
          allowed_by = name;
        }
      } else if (first_refusal.empty() ||
                 first_refusal.find(" names another principal") != std::string::npos ||
                 first_refusal.find(" does not allow ") != std::string::npos) {
        first_refusal = name + ": " + why;
      }
    }
  }
  if (allowed_by) {
    return {true, *allowed_by + " allows it"};
  }
  return {false, first_refusal.empty() ? "no statement allows it" : first_refusal};
}

}  // namespace gtoken::plugin
