#pragma once
// gtoken's own statements in a role's trust policy: given the document IAM
// holds and every binding's grant on that role, the document to write.
//
// gtoken owns the statements whose Sid starts with "GtokenManaged": one per
// token provider and audience, "GtokenManagedGoogle" (then ...Google2, ...)
// for Google tokens and "GtokenManagedKubernetes" (...Kubernetes2, ...) for
// the cluster's OIDC issuers, each listing the allowed subjects of every
// binding of that provider and audience (a statement per audience keeps the
// audience pinned to its subjects: one statement listing two audiences would
// let either subject in with either audience). An owned statement is
// rewritten whole; every other statement, and everything around Statement,
// stays byte for byte (whitespace, key order, escapes), since only the
// bytes of owned statements are replaced. With no grants the owned
// statements go; if nothing would be left, the document keeps one owned
// statement that admits no token ("GtokenManagedNone", an Allow for Google
// tokens without a sub, which STS never accepts), because IAM refuses a
// trust policy without statements.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "aws/policy_size.hpp"

namespace gtoken::aws {

inline constexpr std::string_view kGtokenSidPrefix = "GtokenManaged";
inline constexpr std::string_view kGtokenNoneSid = "GtokenManagedNone";

// What one binding needs from the role.
struct TrustGrant {
  std::string provider;  // "accounts.google.com" or an IAM OIDC provider ARN
  std::string subject;   // the sub: a GSA's uniqueId, or system:serviceaccount:NS:KSA
  std::string audience;  // Google: the oaud; an OIDC provider: the aud (client id)
};

// The conditions status.awsTrustPolicy renders for the same binding
// (operator/policy.cpp): sub and aud = the uniqueId, oaud = the audience.
TrustGrant google_grant(std::string gsa_unique_id, std::string audience);
TrustGrant kubernetes_grant(std::string provider_arn, std::string_view ns, std::string_view ksa,
                            std::string audience);

struct TrustPlanOptions {
  // The account's "Role trust policy length" quota.
  std::size_t size_limit = kDefaultTrustPolicyLimit;
};

struct TrustPlan {
  enum class Outcome {
    Unchanged,  // the document already says it: nothing to write
    Update,     // write `document`
    TooLarge,   // `document` would be over the limit: nothing written (TrustPolicyTooLarge)
  };
  Outcome outcome = Outcome::Unchanged;
  std::string document;
  std::size_t size = 0;           // iam_policy_size(document)
  std::size_t limit = 0;          // options.size_limit
  std::vector<std::string> sids;  // gtoken's statements in `document`, in order
  bool placeholder = false;       // `document` keeps only GtokenManagedNone of gtoken's

  // TooLarge: the numbers, for the condition message.
  std::string message() const;
};

const char* to_string(TrustPlan::Outcome outcome);

// Throws TrustPolicyError when `document` cannot be read, and
// std::invalid_argument for a grant with an unknown provider, an empty
// subject or audience, or a character outside U+0020..U+00FF (IAM refuses
// such a document).
TrustPlan plan_trust_statements(std::string_view document, const std::vector<TrustGrant>& grants,
                                const TrustPlanOptions& options = {});

}  // namespace gtoken::aws
