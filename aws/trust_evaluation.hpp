#pragma once
// Whether a role's trust policy lets a web identity token in, decided as STS
// does for sts:AssumeRoleWithWebIdentity:
// - a statement applies when its Principal (or NotPrincipal) and Action (or
//   NotAction, with IAM wildcards, case-insensitive) match; Principal "*" and
//   {"AWS": "*"} match any caller, {"Federated": ...} the token's provider;
// - an applicable Deny whose conditions hold wins over every Allow;
// - otherwise an applicable Allow whose conditions all hold allows.
// Conditions: every operator and every key of a statement must hold (AND),
// a key's values are alternatives (OR), key names compare case-insensitively.
// Operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase,
// StringNotEqualsIgnoreCase (ASCII case folding), StringLike, StringNotLike
// (`*`, `?`; no policy variables), each with the ForAnyValue: / ForAllValues:
// qualifiers and the IfExists suffix, and Null. A missing key fails, except
// with IfExists, ForAllValues: (vacuously true) and the negated operators
// without a qualifier (true, as IAM documents). Any other operator (Numeric*,
// Date*, Bool, Arn*, IpAddress, ...) is not evaluated and fails closed: an
// Allow with one never allows, a Deny with one counts as matching.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "aws/trust_policy.hpp"
#include "aws/web_identity.hpp"

namespace gtoken::aws {

enum class TrustOutcome {
  Allowed,
  NoStatement,     // no Allow names this provider for the action: TrustPolicyMissing
  ConditionFails,  // Allows apply, but a condition of each fails: TrustPolicyMismatch
  ExplicitDeny,    // an applicable Deny holds: TrustPolicyMismatch
};

const char* to_string(TrustOutcome outcome);

struct ConditionFailure {
  enum class Why { Mismatch, KeyAbsent, UnsupportedOperator };
  Why why = Why::Mismatch;
  std::string op;
  std::string key;                    // as the policy writes it
  std::string claim;                  // the key's last `:` part, e.g. "oaud"
  std::vector<std::string> actual;    // the token's values for the key
  std::vector<std::string> expected;  // the policy's
};

struct TrustVerdict {
  TrustOutcome outcome = TrustOutcome::NoStatement;
  std::string provider;
  // The deciding statement (Allowed, ExplicitDeny) or, for ConditionFails,
  // the closest Allow: the one with the fewest failing conditions, the
  // first of those.
  std::size_t statement = 0;
  std::string sid;
  // ConditionFails: the closest Allow's failing conditions, in the order
  // read (operator, then key). ExplicitDeny: the Deny's unsupported
  // operators that were counted as matching (usually none).
  std::vector<ConditionFailure> failures;

  bool allowed() const { return outcome == TrustOutcome::Allowed; }
  // One line for a condition message or an Event; names keys and the
  // token's claim values (no token, no secret).
  std::string message() const;
};

TrustVerdict evaluate_web_identity(const TrustPolicy& policy, const WebIdentityRequest& request);
// Reads `document` first: throws TrustPolicyError when it cannot.
TrustVerdict evaluate_web_identity(std::string_view document, const WebIdentityRequest& request);

// Whether the policy would also let the same token in had it been minted for
// another audience (a Google token's oaud, an OIDC token's aud): a policy
// that pins only the subject accepts a token its GSA minted for any other
// service (REFERENCE.md §3), which verification can point out.
bool admits_other_audience(const TrustPolicy& policy, const WebIdentityRequest& request);

}  // namespace gtoken::aws
