#pragma once
// Credentials that expire, kept fresh: fetched on first use, fetched again
// `margin` before they expire (or after invalidate()), and kept while still
// valid when a renewal fails, with the next attempt backed off (base,
// doubling, capped). Without valid credentials a failure is thrown, and
// while backing off the last failure is thrown again without asking the
// source, so a broken chain does not turn every reconcile into an STS call.
// Thread-safe; time is injected (tested on a fake clock).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "aws/credential_source.hpp"
#include "kube/clock.hpp"

namespace gtoken::aws {

struct ExpiringCredentials {
  Credentials credentials;
  std::optional<kube::Clock::time_point> expiration;  // none: until invalidated
};

struct RefreshPolicy {
  std::chrono::seconds margin{300};  // renew this long before expiry
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{std::chrono::minutes(5)};
};

class RefreshingCredentials final : public CredentialSource {
 public:
  // `fetch` throws on failure (its what() must name no secret); `name`
  // (e.g. "web identity token file") prefixes the errors thrown here.
  using Fetch = std::function<ExpiringCredentials()>;
  RefreshingCredentials(std::string name, Fetch fetch,
                        std::shared_ptr<kube::Clock> clock = kube::system_clock(),
                        RefreshPolicy policy = {});

  Credentials get() override;
  void invalidate() override;

 private:
  bool valid_at(kube::Clock::time_point t) const;

  std::string name_;
  Fetch fetch_;
  std::shared_ptr<kube::Clock> clock_;
  RefreshPolicy policy_;
  std::mutex mu_;
  std::optional<ExpiringCredentials> current_;
  int failures_ = 0;
  kube::Clock::time_point next_attempt_{};
  std::string last_error_;
};

}  // namespace gtoken::aws
