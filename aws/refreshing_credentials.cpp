#include "aws/refreshing_credentials.hpp"

#include <algorithm>

namespace gtoken::aws {

RefreshingCredentials::RefreshingCredentials(std::string name, Fetch fetch,
                                             std::shared_ptr<kube::Clock> clock,
                                             RefreshPolicy policy)
    : name_(std::move(name)), fetch_(std::move(fetch)), clock_(std::move(clock)), policy_(policy) {}

bool RefreshingCredentials::valid_at(kube::Clock::time_point t) const {
  return current_ && (!current_->expiration || t < *current_->expiration);
}

Credentials RefreshingCredentials::get() {
  std::lock_guard lock(mu_);
  const auto now = clock_->now();
  const bool fresh = current_ && (!current_->expiration ||
                                  now < *current_->expiration - policy_.margin);
  if (fresh) return current_->credentials;
  if (failures_ > 0 && now < next_attempt_) {
    if (valid_at(now)) return current_->credentials;
    throw AwsCredentialsError(last_error_);
  }
  try {
    ExpiringCredentials got = fetch_();
    if (got.credentials.access_key_id.empty() || got.credentials.secret_access_key.empty()) {
      throw AwsCredentialsError("gave no access key");
    }
    current_ = std::move(got);
    failures_ = 0;
    last_error_.clear();
    return current_->credentials;
  } catch (const std::exception& e) {
    ++failures_;
    auto wait = policy_.backoff_base;
    for (int i = 1; i < failures_ && wait < policy_.backoff_cap; ++i) wait *= 2;
    wait = std::min(wait, policy_.backoff_cap);
    next_attempt_ = now + wait;
    last_error_ = "AWS credentials (" + name_ + "): " + e.what();
    if (valid_at(now)) return current_->credentials;
    throw AwsCredentialsError(last_error_);
  }
}

void RefreshingCredentials::invalidate() {
  std::lock_guard lock(mu_);
  current_.reset();
  // AWS refused the session: ask the source at once, not after a backoff.
  failures_ = 0;
}

}  // namespace gtoken::aws
