#pragma once
// Typed errors of the Kubernetes client layer.
//
// Two families: the request never got a Kubernetes answer (NetworkError:
// connect, TLS, timeout, connection reset), or the apiserver answered with a
// non-2xx HTTP status (ApiError, carrying the decoded metav1.Status). Callers
// branch on ApiError::code() or the is_* helpers, never on message text.
//
// Two more, both std::invalid_argument and both thrown before any I/O: a
// name, namespace or subresource that may not go into a request path
// (InvalidName, from Resource::path), and a request the HTTP client refuses
// to write (InvalidRequest: a target or header with a control byte).

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kube {

class NetworkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A namespace, name or subresource that is not valid for a request path.
// what() names the field and quotes the value with non-printable bytes as
// \xNN (kube::quote_untrusted), e.g. `invalid name "a\x0d\x0a": must be ...`.
class InvalidName : public std::invalid_argument {
 public:
  InvalidName(std::string field, std::string_view value, const std::string& rule);
  const std::string& field() const { return field_; }  // "namespace", "name", "subresource"

 private:
  std::string field_;
};

// A request the HTTP client will not write: a target that is not an
// origin-form path, or a header name/value with CR, LF, NUL or another
// control byte. Header values are never quoted in what() (one may be a
// bearer token).
class InvalidRequest : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// metav1.Status as returned in error bodies.
struct Status {
  int code = 0;
  std::string status;   // "Failure"
  std::string reason;   // "NotFound", "Conflict", "Expired", "Invalid", ...
  std::string message;  // human readable
  nlohmann::json details;
};

class ApiError : public std::runtime_error {
 public:
  explicit ApiError(Status s);
  const Status& status() const { return status_; }
  int code() const { return status_.code; }
  const std::string& reason() const { return status_.reason; }
  bool is_not_found() const { return status_.code == 404; }
  bool is_conflict() const { return status_.code == 409; }
  bool is_gone() const { return status_.code == 410 || status_.reason == "Expired"; }
  bool is_forbidden() const { return status_.code == 403; }
  bool is_invalid() const { return status_.code == 422; }
  bool is_server_error() const { return status_.code >= 500; }
  bool is_retryable() const { return is_server_error() || status_.code == 429; }

 private:
  Status status_;
};

// Builds an ApiError from an HTTP status and a response body. A body that is
// a metav1.Status is decoded; anything else (HTML from a proxy, empty) still
// yields a Status with the HTTP code and a reason derived from it.
ApiError error_from_response(int http_status, std::string_view body);

// Decodes a metav1.Status object (as found in a watch ERROR event).
Status status_from_json(const nlohmann::json& j, int fallback_code = 0);

}  // namespace kube
