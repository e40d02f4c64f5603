#pragma once
// Google APIs the operator calls: OAuth2 access tokens (metadata server or a
// service-account key file) and the IAM API for service accounts and their
// IAM policies.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "kube/clock.hpp"
#include "kube/http.hpp"
#include "kube/rate_limiter.hpp"

namespace gtoken {

using json = nlohmann::json;

// An error answer from a Google API (`{"error":{"code","message","status"}}`)
// or from the metadata server.
class GoogleError : public std::runtime_error {
 public:
  GoogleError(int http, std::string status, const std::string& message)
      : std::runtime_error(message), http_(http), status_(std::move(status)) {}
  int http() const { return http_; }
  const std::string& status() const { return status_; }  // ABORTED, PERMISSION_DENIED, ...
  bool is_aborted() const { return http_ == 409 || status_ == "ABORTED"; }
  bool is_not_found() const { return http_ == 404; }
  bool is_permission_denied() const { return http_ == 403; }
  bool is_retryable() const {
    return http_ == 408 || http_ == 429 || http_ >= 500 || is_aborted();
  }

 private:
  int http_;
  std::string status_;
};

GoogleError google_error_from(int http, const std::string& body, const std::string& what);

// The metadata server's base URL: http://$GCE_METADATA_HOST, else the
// link-local address of metadata.google.internal.
std::string metadata_base_url();

class AccessTokenSource {
 public:
  virtual ~AccessTokenSource() = default;
  // A valid OAuth2 access token, refreshed ahead of expiry. Throws
  // GoogleError or kube::NetworkError.
  virtual std::string token() = 0;
  // The API refused the last token (401): forget it so the next call fetches
  // a new one.
  virtual void invalidate() {}
};

// Caches a token until `refresh_margin` before it expires (or a quarter of
// its lifetime, for short-lived tokens). A failed refresh keeps serving the
// cached token while it is still valid.
class CachingTokenSource : public AccessTokenSource {
 public:
  explicit CachingTokenSource(std::shared_ptr<kube::Clock> clock,
                              std::chrono::seconds refresh_margin = std::chrono::minutes(5))
      : clock_(std::move(clock)), margin_(refresh_margin) {}
  std::string token() override;
  void invalidate() override;

 protected:
  struct Fetched {
    std::string token;
    std::chrono::seconds expires_in;
  };
  virtual Fetched fetch() = 0;

 private:
  std::shared_ptr<kube::Clock> clock_;
  std::chrono::seconds margin_;
  std::mutex mu_;
  std::string token_;
  kube::Clock::time_point expiry_{};
  kube::Clock::time_point refresh_at_{};
};

class MetadataTokenSource final : public CachingTokenSource {
 public:
  explicit MetadataTokenSource(std::string base_url = metadata_base_url(),
                               std::shared_ptr<kube::Clock> clock = kube::system_clock());

 private:
  Fetched fetch() override;
  kube::HttpClient http_;
};

// GOOGLE_APPLICATION_CREDENTIALS: a service-account key file. Signs an RS256
// JWT assertion and exchanges it at the key's token_uri. Before each new
// access token is minted the file's mtime and size are checked; a changed
// file is read again (one that does not parse keeps the previous key and is
// retried at the next mint).
class KeyFileTokenSource final : public CachingTokenSource {
 public:
  explicit KeyFileTokenSource(const std::string& path,
                              std::shared_ptr<kube::Clock> clock = kube::system_clock());
  const std::string& client_email() const { return client_email_; }

 private:
  Fetched fetch() override;
  void load();  // (re-)reads path_; throws std::invalid_argument
  std::string path_;
  std::filesystem::file_time_type key_mtime_{};
  std::uintmax_t key_size_ = 0;
  std::string client_email_;
  std::string private_key_pem_;
  std::string private_key_id_;
  std::string token_uri_;
  std::string token_path_;
  std::unique_ptr<kube::HttpClient> http_;
};

// GOOGLE_APPLICATION_CREDENTIALS when set, else the metadata server.
std::shared_ptr<AccessTokenSource> default_access_token_source();

// The project id from the metadata server.
std::string metadata_project_id(const std::string& base_url = metadata_base_url());

// An ID token of the instance's (the pod's Workload Identity) GSA for
// `audience`, format=full, from the metadata server. Throws GoogleError or
// kube::NetworkError; the token is never in an error.
std::string metadata_id_token(const std::string& audience,
                              const std::string& base_url = metadata_base_url());

// RS256 signature of `data` with a PEM private key (exposed for tests).
std::string rs256_sign(const std::string& private_key_pem, const std::string& data);

// The IAM API (iam.googleapis.com/v1) for what gtoken needs.
class IamClient {
 public:
  // read_qps / write_qps > 0 pace calls client-side (token buckets with a
  // burst of one second's worth), under Google's per-project IAM quotas
  // (6,000 reads and 600 writes per minute by default); 0 = unpaced.
  IamClient(std::string endpoint, std::shared_ptr<AccessTokenSource> tokens, double read_qps = 0,
            double write_qps = 0);
  // GET projects/PROJECT/serviceAccounts/EMAIL: {name, projectId, uniqueId,
  // email, disabled}. Under "-" (any project) Google answers 403 for a GSA
  // that does not exist; under its own project, 404.
  json get_service_account(const std::string& email, const std::string& project = "-");
  // getIamPolicy with requestedPolicyVersion 3 (conditions kept intact).
  json get_iam_policy(const std::string& email);
  // setIamPolicy; the policy's etag guards against concurrent changes (409 ABORTED).
  json set_iam_policy(const std::string& email, const json& policy);
  // Counts of calls made (benchmarks report API calls per binding).
  size_t calls() const { return calls_.load(); }

 private:
  json call(const std::string& method, const std::string& path, const std::string& body,
           bool write = false);
  std::shared_ptr<AccessTokenSource> tokens_;
  std::shared_ptr<kube::RateLimiter> read_limiter_;
  std::shared_ptr<kube::RateLimiter> write_limiter_;
  kube::HttpClient http_;
  std::string prefix_;
  std::atomic<size_t> calls_{0};
};

}  // namespace gtoken
