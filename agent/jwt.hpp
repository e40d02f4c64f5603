#pragma once

#include "kube/time.hpp"
// Reads the timing claims of a JWT without verifying its signature.
//
// The agent only needs to know when a token it was handed expires, to decide
// when to fetch the next one and to refuse writing something that is not a
// token at all. Trust is decided by AWS STS, which verifies the signature.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gtoken::agent {

using TimePoint = std::chrono::system_clock::time_point;

struct JwtTimes {
  TimePoint exp;
  std::optional<TimePoint> iat;
  // The `aud` claim (RFC 7519 4.1.3: one string or an array of strings);
  // empty when absent or of any other type.
  std::vector<std::string> aud{};
};

// True iff `audience` is non-empty and one of the token's `aud` values
// (exact, case-sensitive comparison, as STS does).
bool has_audience(const JwtTimes& times, std::string_view audience);

// STS accepts WebIdentityToken values of at most 20000 characters.
inline constexpr size_t kMaxTokenSize = 20000;

// Unpadded base64url (RFC 4648 section 5), as used in JWTs.
std::string base64url_encode(std::string_view in);

// Decodes unpadded or padded base64url; nullopt on any other character.
std::optional<std::string> base64url_decode(std::string_view in);

// Parses `header.payload.signature` (compact JWS, three non-empty segments,
// base64url JSON objects) and returns its numeric `exp`, if present and
// numeric `iat`, and its `aud` values. On failure returns nullopt and sets *error to a short reason
// that never quotes the token.
std::optional<JwtTimes> parse_jwt_times(std::string_view token, std::string* error = nullptr);

// RFC 3339 UTC with seconds ("2024-05-01T12:00:00Z"), for logs and messages.
using kube::format_rfc3339;

}  // namespace gtoken::agent
