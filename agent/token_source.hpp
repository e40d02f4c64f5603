#pragma once
// Where tokens come from and where they go. The Refresher only sees these
// interfaces, so unit tests script every fault with fakes.

#include <functional>
#include <optional>
#include <string>

#include "agent/jwt.hpp"
#include "kube/http.hpp"

namespace gtoken::agent {

enum class ErrorKind {
  transient,      // network error, 408/429/5xx: retry soon
  config,         // 400/401/403/404 and other 4xx: someone must fix a setting; retry slowly
  invalid_token,  // the server answered 200 with something that is not a JWT with exp
  wrong_audience, // a JWT whose aud is not --audience: never written; retried slowly
  write,          // the token could not be written
};

const char* kind_name(ErrorKind k);

struct FetchError {
  ErrorKind kind = ErrorKind::transient;
  int http_status = 0;  // 0: no HTTP answer
  std::string message;  // what happened (never the token)
  std::string hint;     // what to check, for config errors
};

struct FetchResult {
  std::string token;                // set on success
  std::optional<FetchError> error;  // set on failure
  bool ok() const { return !error.has_value(); }

  static FetchResult success(std::string t) { return {std::move(t), std::nullopt}; }
  static FetchResult failure(FetchError e) { return {{}, std::move(e)}; }
};

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  virtual FetchResult fetch() = 0;
  virtual std::string describe() const = 0;  // for logs: "metadata", "iamcredentials"
};

class TokenSink {
 public:
  virtual ~TokenSink() = default;
  // Throws std::runtime_error (WriteError for files) when nothing was written.
  virtual void write(const std::string& token, const JwtTimes& times) = 0;
  virtual std::string describe() const = 0;
};

// Google's retryable set (google-auth DEFAULT_RETRYABLE_STATUS_CODES: 408,
// 429, 500, 503, 504) plus the rest of 5xx, which are retried at the same pace.
ErrorKind classify_status(int http_status);

// One HTTP exchange. Production wraps kube::HttpClient::request; tests fake it.
// May throw kube::NetworkError.
using HttpFn = std::function<kube::HttpResponse(const kube::HttpRequest&)>;

}  // namespace gtoken::agent
