#include "aws/trust_policy.hpp"

#include <nlohmann/json.hpp>
#include <set>

#include "aws/json_spans.hpp"

namespace gtoken::aws {

using json = nlohmann::json;
using Kind = TrustPolicyError::Kind;

const char* to_string(Kind kind) {
  switch (kind) {
    case Kind::NotJson:
      return "NotJson";
    case Kind::NotAnObject:
      return "NotAnObject";
    case Kind::MissingStatement:
      return "MissingStatement";
    case Kind::DuplicateElement:
      return "DuplicateElement";
    case Kind::BadEffect:
      return "BadEffect";
    case Kind::BadPrincipal:
      return "BadPrincipal";
    case Kind::BadAction:
      return "BadAction";
    case Kind::BadCondition:
      return "BadCondition";
  }
  return "Unknown";
}

namespace {

// nlohmann keeps the last of duplicate keys silently; IAM's reading of such
// a document is not documented, so refuse it rather than guess.
void no_duplicates(std::string_view text, Span object, const std::string& where) {
  std::set<std::string> seen;
  for (const auto& m : json_object_members(text, object)) {
    if (!seen.insert(m.key).second) {
      throw TrustPolicyError(Kind::DuplicateElement, where + ": \"" + m.key + "\" appears twice");
    }
    if (text[m.value.begin] == '{') no_duplicates(text, m.value, where + "." + m.key);
    if (text[m.value.begin] == '[') {
      std::size_t i = 0;
      for (const auto& e : json_array_elements(text, m.value)) {
        if (text[e.begin] == '{') {
          no_duplicates(text, e, where + "." + m.key + "[" + std::to_string(i) + "]");
        }
        ++i;
      }
    }
  }
}

// A scalar condition or principal value as IAM compares it: its text.
bool scalar_text(const json& v, std::string& out) {
  if (v.is_string()) {
    out = v.get<std::string>();
  } else if (v.is_boolean()) {
    out = v.get<bool>() ? "true" : "false";
  } else if (v.is_number()) {
    out = v.dump();
  } else {
    return false;
  }
  return true;
}

// A string or a list of strings (Action, a principal type's values).
std::vector<std::string> strings(const json& v, Kind kind, const std::string& where) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
    return out;
  }
  if (!v.is_array()) throw TrustPolicyError(kind, where + " is neither a string nor a list");
  for (const auto& e : v) {
    if (!e.is_string()) throw TrustPolicyError(kind, where + " holds a value that is no string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

void read_principal(const json& v, TrustStatement& st, const std::string& where) {
  if (v.is_string()) {
    if (v.get<std::string>() != "*") {
      throw TrustPolicyError(Kind::BadPrincipal, where + " is a string other than \"*\"");
    }
    st.any_principal = true;
    return;
  }
  if (!v.is_object() || v.empty()) {
    throw TrustPolicyError(Kind::BadPrincipal, where + " is neither \"*\" nor a type map");
  }
  for (const auto& [type, values] : v.items()) {
    st.principals[type] = strings(values, Kind::BadPrincipal, where + "." + type);
  }
}

void read_condition(const json& v, TrustStatement& st, const std::string& where) {
  if (!v.is_object()) throw TrustPolicyError(Kind::BadCondition, where + " is not an object");
  for (const auto& [op, block] : v.items()) {
    if (!block.is_object()) {
      throw TrustPolicyError(Kind::BadCondition, where + "." + op + " is not an object");
    }
    for (const auto& [key, value] : block.items()) {
      ConditionEntry entry{op, key, {}};
      std::string text;
      if (scalar_text(value, text)) {
        entry.values.push_back(text);
      } else if (value.is_array()) {
        for (const auto& e : value) {
          if (!scalar_text(e, text)) {
            throw TrustPolicyError(Kind::BadCondition,
                                   where + "." + op + "." + key + " holds a non-scalar value");
          }
          entry.values.push_back(text);
        }
      } else {
        throw TrustPolicyError(Kind::BadCondition,
                               where + "." + op + "." + key + " is neither a value nor a list");
      }
      st.conditions.push_back(std::move(entry));
    }
  }
}

TrustStatement read_statement(const json& s, std::size_t index) {
  const std::string where = "Statement[" + std::to_string(index) + "]";
  if (!s.is_object()) throw TrustPolicyError(Kind::NotAnObject, where + " is not an object");
  TrustStatement st;
  st.index = index;
  if (auto it = s.find("Sid"); it != s.end()) {
    if (!it->is_string()) throw TrustPolicyError(Kind::NotAnObject, where + ".Sid is no string");
    st.sid = it->get<std::string>();
  }
  const auto effect = s.find("Effect");
  if (effect == s.end() || !effect->is_string() || (*effect != "Allow" && *effect != "Deny")) {
    throw TrustPolicyError(Kind::BadEffect, where + ".Effect is not \"Allow\" or \"Deny\"");
  }
  st.effect = *effect == "Allow" ? Effect::Allow : Effect::Deny;

  const bool p = s.contains("Principal"), np = s.contains("NotPrincipal");
  if (p == np) {
    throw TrustPolicyError(Kind::BadPrincipal,
                           where + " needs exactly one of Principal and NotPrincipal");
  }
  st.not_principal = np;
  read_principal(s.at(np ? "NotPrincipal" : "Principal"), st,
                 where + (np ? ".NotPrincipal" : ".Principal"));

  const bool a = s.contains("Action"), na = s.contains("NotAction");
  if (a == na) {
    throw TrustPolicyError(Kind::BadAction, where + " needs exactly one of Action and NotAction");
  }
  st.not_action = na;
  st.actions = strings(s.at(na ? "NotAction" : "Action"), Kind::BadAction,
                       where + (na ? ".NotAction" : ".Action"));

  if (auto it = s.find("Condition"); it != s.end()) {
    read_condition(*it, st, where + ".Condition");
  }
  return st;
}

}  // namespace

TrustPolicy parse_trust_policy(std::string_view text) {
  Span doc;
  try {
    doc = json_document(text);
  } catch (const JsonSyntaxError&) {
    throw TrustPolicyError(Kind::NotJson, "the trust policy is not a JSON document");
  }
  if (text[doc.begin] != '{') {
    throw TrustPolicyError(Kind::NotAnObject, "the trust policy is not a JSON object");
  }
  no_duplicates(text, doc, "policy");
  const json j = json::parse(text);
  TrustPolicy policy;
  if (auto it = j.find("Version"); it != j.end() && it->is_string()) {
    policy.version = it->get<std::string>();
  }
  const auto statement = j.find("Statement");
  if (statement == j.end()) {
    throw TrustPolicyError(Kind::MissingStatement, "the trust policy has no Statement");
  }
  if (statement->is_array()) {
    std::size_t i = 0;
    for (const auto& s : *statement) policy.statements.push_back(read_statement(s, i++));
  } else {
    policy.statements.push_back(read_statement(*statement, 0));
  }
  return policy;
}

}  // namespace gtoken::aws
