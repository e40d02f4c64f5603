#pragma once
// Apply: what each binding of this process wants in its role's trust
// policy, read by TrustWriter at write time (its GrantsOf).
//
// The statement gtoken writes lists the subjects of *every* binding of the
// role that may apply, so a write made with one of them missing would lock
// that binding's pods out. After a restart this process knows a binding's
// grant only once it has reconciled it: complete() tells whether every
// cached binding of a role has been, and the reconciler writes a role only
// then. A binding that may not apply (no Apply policy, being deleted) is
// recorded with no grant, which counts as known.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "aws/trust_statement_plan.hpp"
#include "kube/store.hpp"

namespace gtoken {

class TrustGrants {
 public:
  // Binding `key` (NS/NAME) now wants `grant` in `role_arn` (nullopt:
  // nothing). Returns the roles whose statements change: `role_arn` when
  // the grant differs from what was recorded, and the role it wanted before
  // when that held a grant and is another one.
  std::vector<std::string> set(const std::string& key, const std::string& role_arn,
                               std::optional<aws::TrustGrant> grant);
  // The binding is gone (after its role was written without it).
  void forget(const std::string& key);

  // The grants every recorded binding wants in `role_arn`, in key order.
  std::vector<aws::TrustGrant> of(const std::string& role_arn) const;
  // Whether the role `key` last wanted held a grant, and which role.
  std::optional<std::string> granted_role(const std::string& key) const;

  // Every binding in `bindings` (the informer's cache) that names
  // `role_arn` and is not being deleted has been set().
  bool complete(const std::string& role_arn, const kube::Store& bindings) const;

 private:
  struct Entry {
    std::string role_arn;
    std::optional<aws::TrustGrant> grant;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace gtoken
