#pragma once
// Apply: gtoken's statements in AWS roles' trust policies, one role at a
// time, shared by all reconciles of the process (issue #12).
//
// - sync(role) brings the role's gtoken-owned statements (Sid
//   "GtokenManaged...", aws/trust_statement_plan.hpp) to what grants_of(role)
//   says *at write time*: the grants of every binding allowed to apply to it.
//   So one write serves every binding of the role that asked meanwhile
//   (group commit, as PolicyWriter does for Google), and a deleted binding's
//   subject leaves with the next sync of its role.
// - Trust policies have no etag: writes to one role are serialized here, the
//   role is read again after each write and the plan made again on what was
//   read; a plan that is not Unchanged then means someone else wrote in
//   between, and the sync backs off and starts over (at most
//   conflict_retries times, then Conflict). The role is also read once
//   more right before each write, and a document that moved since the plan
//   was made starts the sync over (counted as a conflict): an edit made
//   meanwhile would otherwise be written over. IAM offers nothing to close
//   the last gap between that read and the write.
// - Every statement gtoken does not own stays byte for byte (the planner's
//   promise); TooLarge is reported with the numbers and nothing is written.
// - Only roles whose IAM path (GetRole's Path, not the ARN's text) starts
//   with role_path are written: OutsidePath otherwise.
// - The cluster's OIDC provider (Kubernetes-issued tokens) is created, or
//   given the client id, never deleted.
//
// Logic around AwsIo (operator/aws_io.hpp), unit-tested over a scripted fake.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aws/trust_statement_plan.hpp"
#include "kube/backoff.hpp"
#include "kube/clock.hpp"
#include "operator/aws_io.hpp"

namespace gtoken {

struct TrustWriterOptions {
  std::string role_path;  // "" = any path; else e.g. "/gtoken/" (must start and end with '/')
  std::size_t size_limit = aws::kDefaultTrustPolicyLimit;
  int conflict_retries = 5;
  kube::BackoffPolicy backoff{std::chrono::milliseconds(200), std::chrono::seconds(5), 2.0,
                              kube::Jitter::Full};
  // Called before every IAM write (the leader check); may throw.
  std::function<void()> before_write = [] {};
  // Called after every UpdateAssumeRolePolicy that IAM accepted.
  std::function<void(const std::string& role_arn)> on_write;
};

struct TrustSync {
  enum class Outcome {
    Unchanged,     // the role already said it: nothing written
    Written,       // written, read back and found as planned
    TooLarge,      // the document would exceed size_limit (or IAM said LimitExceeded)
    OutsidePath,   // the role's path is not under role_path: nothing written
    RoleNotFound,  // IAM: NoSuchEntity
    Conflict,      // other writers kept changing it: retries exhausted
  };
  Outcome outcome = Outcome::Unchanged;
  std::string message;        // for a condition or an Event (no secrets)
  aws::IamRole role;          // as last read (trust_policy: the document IAM holds)
  std::vector<std::string> sids;  // gtoken's statements in role.trust_policy
};

const char* to_string(TrustSync::Outcome outcome);

class TrustWriter {
 public:
  // The grants every binding allowed to apply wants on `role_arn` now.
  using GrantsOf = std::function<std::vector<aws::TrustGrant>(const std::string& role_arn)>;

  TrustWriter(AwsIo io, GrantsOf grants_of, TrustWriterOptions options,
              std::shared_ptr<kube::Clock> clock = kube::system_clock(),
              kube::Random random = kube::default_random());

  // Throws aws::IamCallError (other than NoSuchEntity and LimitExceeded,
  // which are outcomes), aws::AwsCredentialsError, kube::NetworkError,
  // std::invalid_argument for a role ARN that is not one; the caller
  // retries. Concurrent calls for one role are served by one write.
  TrustSync sync(const std::string& role_arn);

  // The IAM OIDC provider of `issuer` (https URL) in `account` of
  // `partition` exists and lists `client_id`: creates it or adds the client
  // id. Returns its ARN. Never deletes or narrows a provider.
  std::string ensure_oidc_provider(const std::string& partition, const std::string& account,
                                   const std::string& issuer, const std::string& client_id);

  struct Stats {
    std::size_t reads = 0;
    std::size_t writes = 0;
    std::size_t conflicts = 0;
  };
  Stats stats() const;

 private:
  struct Role;
  std::shared_ptr<Role> state(const std::string& role_arn);

  AwsIo io_;
  GrantsOf grants_of_;
  TrustWriterOptions options_;
  std::shared_ptr<kube::Clock> clock_;
  kube::Random random_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Role>> roles_;
  Stats stats_;
};

}  // namespace gtoken
