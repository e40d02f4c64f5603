#include "agent/claims.hpp"

namespace gtoken::agent {

namespace {

// seconds since the epoch, whole
long long epoch_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::optional<nlohmann::json> token_claims(std::string_view token, TimePoint now,
                                           std::string* error) {
  // parse_jwt_times validates the shape (three segments, JSON objects, a
  // numeric exp), so what follows decodes a payload known to be an object.
  auto times = parse_jwt_times(token, error);
  if (!times) {
    return std::nullopt;
  }
  const size_t d1 = token.find('.');
  const size_t d2 = token.find('.', d1 + 1);
  const auto raw = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  const auto payload = nlohmann::json::parse(*raw, nullptr, /*allow_exceptions=*/false);

  nlohmann::json out = nlohmann::json::object();
  for (const char* key : {"iss", "sub", "azp", "email"}) {
    auto it = payload.find(key);
    if (it != payload.end() && it->is_string()) {
      out[key] = *it;
    }
  }
  if (auto it = payload.find("aud"); it != payload.end()) {
    if (it->is_string()) {
      out["aud"] = *it;
    } else if (it->is_array()) {
      out["aud"] = times->aud;  // the string members only
    }
  }
  out["exp"] = epoch_seconds(times->exp);
  if (times->iat) {
    out["iat"] = epoch_seconds(*times->iat);
  }
  out["expires_in_s"] = epoch_seconds(times->exp) - epoch_seconds(now);
  out["valid"] = times->exp > now;
  return out;
}

}  // namespace gtoken::agent
