#pragma once
// A role's trust policy document (AssumeRolePolicyDocument, the JSON text
// after URL-decoding), read into the parts STS evaluates. Element names and
// Effect values are case-sensitive as in IAM's grammar; condition keys are
// kept as written (they are compared case-insensitively when evaluated).

#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gtoken::aws {

// Why a document cannot be read. `kind` is stable for callers (conditions,
// Events); the message says where.
class TrustPolicyError : public std::runtime_error {
 public:
  enum class Kind {
    NotJson,           // not one JSON value
    NotAnObject,       // the document, a statement or a block is the wrong JSON type
    MissingStatement,  // no Statement element
    DuplicateElement,  // an element named twice in one object (ambiguous)
    BadEffect,         // Effect absent or neither Allow nor Deny
    BadPrincipal,      // neither or both of Principal / NotPrincipal, or a wrong shape
    BadAction,         // neither or both of Action / NotAction, or a wrong shape
    BadCondition,      // Condition not operator -> {key -> value(s)}
  };
  TrustPolicyError(Kind kind, const std::string& what) : std::runtime_error(what), kind(kind) {}
  Kind kind;
};

const char* to_string(TrustPolicyError::Kind kind);

enum class Effect { Allow, Deny };

// One operator/key pair of a Condition block: {"StringLike": {"k": ["a*"]}}
// gives {op "StringLike", key "k", values {"a*"}}.
struct ConditionEntry {
  std::string op;  // as written, with qualifier and IfExists
  std::string key;
  std::vector<std::string> values;  // numbers and booleans as their JSON text
};

struct TrustStatement {
  std::size_t index = 0;  // position in Statement (0 for a lone object)
  std::string sid;
  Effect effect = Effect::Allow;
  // Principal or NotPrincipal: "*" (any_principal), or type -> values.
  bool not_principal = false;
  bool any_principal = false;
  std::map<std::string, std::vector<std::string>> principals;
  bool not_action = false;
  std::vector<std::string> actions;
  std::vector<ConditionEntry> conditions;
};

struct TrustPolicy {
  std::string version;  // "" when absent
  std::vector<TrustStatement> statements;
};

// Throws TrustPolicyError.
TrustPolicy parse_trust_policy(std::string_view text);

}  // namespace gtoken::aws
