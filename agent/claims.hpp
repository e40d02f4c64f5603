#pragma once
// `gtoken probe --claims`: what a token in the pod says about itself, for
// `kubectl gtoken doctor` (docs/plugin.md). Only the claims AWS STS and a
// trust policy look at leave the pod; the token itself never does, and no
// error quotes it.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "agent/jwt.hpp"

namespace gtoken::agent {

// The decoded claims as one JSON object: iss, aud (a string or an array, as
// in the token), sub, azp, email (each only when the token has it, strings
// only), exp and iat (NumericDate seconds), plus "expires_in_s" (exp - now,
// negative once expired) and "valid" (exp > now). nullopt with *error set
// when the token is not a JWT parse_jwt_times accepts.
std::optional<nlohmann::json> token_claims(std::string_view token, TimePoint now,
                                           std::string* error = nullptr);

}  // namespace gtoken::agent
