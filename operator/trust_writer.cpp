#include "operator/trust_writer.hpp"

#include <algorithm>
#include <stdexcept>

#include "aws/iam.hpp"
#include "operator/policy.hpp"

namespace gtoken {

const char* to_string(TrustSync::Outcome outcome) {
  switch (outcome) {
    case TrustSync::Outcome::Unchanged: return "Unchanged";
    case TrustSync::Outcome::Written: return "Written";
    case TrustSync::Outcome::TooLarge: return "TooLarge";
    case TrustSync::Outcome::OutsidePath: return "OutsidePath";
    case TrustSync::Outcome::RoleNotFound: return "RoleNotFound";
    case TrustSync::Outcome::Conflict: return "Conflict";
  }
  return "?";
}

// One role's lock: writes to a role never overlap, and a caller that waited
// for another's write finds the role Unchanged (grants are read at write
// time, so that write already carried its grant).
struct TrustWriter::Role {
  std::mutex mu;
};

TrustWriter::TrustWriter(AwsIo io, GrantsOf grants_of, TrustWriterOptions options,
                         std::shared_ptr<kube::Clock> clock, kube::Random random)
    : io_(std::move(io)),
      grants_of_(std::move(grants_of)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      random_(std::move(random)) {}

std::shared_ptr<TrustWriter::Role> TrustWriter::state(const std::string& role_arn) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& r = roles_[role_arn];
  if (!r) r = std::make_shared<Role>();
  return r;
}

TrustWriter::Stats TrustWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

TrustSync TrustWriter::sync(const std::string& role_arn) {
  const auto name = aws::role_name_of_arn(role_arn);
  if (!name) throw std::invalid_argument("not an IAM role ARN: " + role_arn);
  auto role = state(role_arn);
  std::lock_guard<std::mutex> serialized(role->mu);

  TrustSync out;
  auto count = [this](std::size_t Stats::*field) {
    std::lock_guard<std::mutex> lock(mu_);
    ++(stats_.*field);
  };
  auto read = [&]() -> bool {
    count(&Stats::reads);
    try {
      out.role = io_.get_role(*name);
      return true;
    } catch (const aws::IamCallError& e) {
      if (!e.no_such_entity()) throw;
      out.outcome = TrustSync::Outcome::RoleNotFound;
      out.message = e.what();
      return false;
    }
  };

  kube::Backoff backoff(options_.backoff, random_);
  bool wrote = false;       // this sync wrote the role at least once
  bool just_wrote = false;  // the last loop wrote: this read checks it
  int conflicts = 0;
  auto conflict = [&]() -> bool {
    count(&Stats::conflicts);
    if (++conflicts > options_.conflict_retries) {
      out.outcome = TrustSync::Outcome::Conflict;
      out.message = "the trust policy changed under " + std::to_string(conflicts) +
                    " consecutive writes";
      return false;
    }
    clock_->sleep_for(backoff.next());
    return true;
  };

  for (;;) {
    if (!read()) return out;
    if (!options_.role_path.empty() && !out.role.path.starts_with(options_.role_path)) {
      out.outcome = TrustSync::Outcome::OutsidePath;
      out.message = "role path " + out.role.path + " is outside " + options_.role_path +
                    ", the only path gtoken may write (--aws-iam-role-path)";
      return out;
    }
    aws::TrustPlan plan = aws::plan_trust_statements(out.role.trust_policy, grants_of_(role_arn),
                                                     {options_.size_limit});
    if (plan.outcome == aws::TrustPlan::Outcome::Unchanged) {
      out.outcome = wrote ? TrustSync::Outcome::Written : TrustSync::Outcome::Unchanged;
      out.sids = plan.sids;
      return out;
    }
    if (plan.outcome == aws::TrustPlan::Outcome::TooLarge) {
      out.outcome = TrustSync::Outcome::TooLarge;
      out.message = plan.message();
      return out;
    }
    // After our own write, a plan that is not Unchanged means another
    // writer came in between: back off before writing over it again.
    if (just_wrote) {
      just_wrote = false;
      if (!conflict()) return out;
      continue;
    }
    // No etag: read once more right before writing, and start over when
    // the document moved since the plan was made (an edit made meanwhile
    // would otherwise be written over and lost).
    const std::string planned_on = out.role.trust_policy;
    if (!read()) return out;
    if (out.role.trust_policy != planned_on) {
      if (!conflict()) return out;
      continue;
    }
    options_.before_write();
    try {
      io_.update_assume_role_policy(*name, plan.document);
    } catch (const aws::IamCallError& e) {
      if (e.code() == "LimitExceeded") {
        out.outcome = TrustSync::Outcome::TooLarge;
        out.message = std::string(e.what()) + " (" + plan.message() + ")";
        return out;
      }
      if (e.no_such_entity()) {
        out.outcome = TrustSync::Outcome::RoleNotFound;
        out.message = e.what();
        return out;
      }
      throw;
    }
    count(&Stats::writes);
    wrote = just_wrote = true;
    if (options_.on_write) options_.on_write(role_arn);
  }
}

std::string TrustWriter::ensure_oidc_provider(const std::string& partition,
                                              const std::string& account,
                                              const std::string& issuer,
                                              const std::string& client_id) {
  const std::string path = oidc_provider_path(issuer);
  if (path.empty()) throw std::invalid_argument("not an https issuer: " + issuer);
  const std::string arn = "arn:" + partition + ":iam::" + account + ":oidc-provider/" + path;
  const auto arns = io_.list_oidc_providers();
  if (std::find(arns.begin(), arns.end(), arn) == arns.end()) {
    options_.before_write();
    return io_.create_oidc_provider(issuer, {client_id});
  }
  const aws::IamOidcProvider p = io_.get_oidc_provider(arn);
  if (std::find(p.client_ids.begin(), p.client_ids.end(), client_id) == p.client_ids.end()) {
    options_.before_write();
    io_.add_client_id_to_oidc_provider(arn, client_id);
  }
  return arn;
}

}  // namespace gtoken
