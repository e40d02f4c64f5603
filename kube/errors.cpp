#include "kube/errors.hpp"

#include "kube/names.hpp"
#include "kube/utf8.hpp"

namespace kube {

namespace {

std::string reason_for(int code) {
  switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return code >= 500 ? "InternalError" : "Unknown";
  }
}

std::string what_of(const Status& s) {
  std::string w = "kubernetes API error " + std::to_string(s.code);
  if (!s.reason.empty()) w += " " + s.reason;
  if (!s.message.empty()) w += ": " + s.message;
  return w;
}

}  // namespace

InvalidName::InvalidName(std::string field, std::string_view value, const std::string& rule)
    : std::invalid_argument("invalid " + field + " \"" + quote_untrusted(value) + "\": " + rule),
      field_(std::move(field)) {}

ApiError::ApiError(Status s) : std::runtime_error(what_of(s)), status_(std::move(s)) {}

Status status_from_json(const nlohmann::json& j, int fallback_code) {
  Status s;
  s.code = j.value("code", fallback_code);
  if (s.code == 0) s.code = fallback_code;
  s.status = j.value("status", std::string("Failure"));
  s.reason = j.value("reason", std::string());
  s.message = j.value("message", std::string());
  if (j.contains("details")) s.details = j["details"];
  if (s.reason.empty()) s.reason = reason_for(s.code);
  return s;
}

ApiError error_from_response(int http_status, std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.value("kind", std::string()) == "Status") {
    Status s = status_from_json(j, http_status);
    // The HTTP status is authoritative; the body's code may be absent.
    s.code = http_status;
    return ApiError(std::move(s));
  }
  Status s;
  s.code = http_status;
  s.status = "Failure";
  s.reason = reason_for(http_status);
  // A proxy's HTML or a truncated body: cut on a character boundary and
  // replace ill-formed bytes, so the message can be logged and dumped.
  std::string text = utf8_sanitize(utf8_truncate(body, 512));
  s.message = text.empty() ? "HTTP " + std::to_string(http_status) + " with no body" : text;
  return ApiError(std::move(s));
}

}  // namespace kube
