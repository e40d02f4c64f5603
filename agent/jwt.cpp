#include "agent/jwt.hpp"

#include <array>
#include <cmath>
#include <nlohmann/json.hpp>

namespace gtoken::agent {

namespace {

constexpr std::array<int8_t, 256> make_base64url_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) {
    v = -1;
  }
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int i = 0; i < 64; ++i) {
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  }
  return t;
}

constexpr auto kBase64Url = make_base64url_table();

bool set_error(std::string* error, const char* reason) {
  if (error) {
    *error = reason;
  }
  return false;
}

// A JSON number of seconds since the epoch, within a range that cannot
// overflow time_point arithmetic.
std::optional<TimePoint> numeric_date(const nlohmann::json& v) {
  if (!v.is_number()) {
    return std::nullopt;
  }
  double s = v.get<double>();
  if (!std::isfinite(s) || s <= 0 || s > 1e11) {
    return std::nullopt;
  }
  auto secs = std::chrono::duration<double>(s);
  return TimePoint{} + std::chrono::duration_cast<TimePoint::duration>(secs);
}

std::optional<nlohmann::json> decode_segment(std::string_view seg) {
  auto raw = base64url_decode(seg);
  if (!raw) {
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return std::nullopt;
  }
  return j;
}

}  // namespace

std::string base64url_encode(std::string_view in) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) {
    out.push_back(alphabet[(acc << (6 - bits)) & 63]);
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  // Padding is optional in JWTs; accept it only at the very end.
  while (!in.empty() && in.back() == '=') {
    in.remove_suffix(1);
  }
  if (in.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int8_t v = kBase64Url[static_cast<unsigned char>(c)];
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::optional<JwtTimes> parse_jwt_times(std::string_view token, std::string* error) {
  auto fail = [&](const char* reason) -> std::optional<JwtTimes> {
    set_error(error, reason);
    return std::nullopt;
  };
  if (token.empty()) {
    return fail("empty token");
  }
  if (token.size() > kMaxTokenSize) {
    return fail("token longer than 20000 characters");
  }
  size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) {
    return fail("not a JWT: no '.' separator");
  }
  size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) {
    return fail("not a JWT: two segments, expected three");
  }
  if (token.find('.', d2 + 1) != std::string_view::npos) {
    return fail("not a JWT: more than three segments");
  }
  std::string_view header = token.substr(0, d1);
  std::string_view payload = token.substr(d1 + 1, d2 - d1 - 1);
  std::string_view signature = token.substr(d2 + 1);
  if (header.empty() || payload.empty() || signature.empty()) {
    return fail("not a JWT: empty segment (unsigned tokens are refused)");
  }
  if (!base64url_decode(signature)) {
    return fail("not a JWT: signature is not base64url");
  }
  if (!decode_segment(header)) {
    return fail("not a JWT: header is not a base64url JSON object");
  }
  auto claims = decode_segment(payload);
  if (!claims) {
    return fail("not a JWT: payload is not a base64url JSON object");
  }
  auto exp_it = claims->find("exp");
  if (exp_it == claims->end()) {
    return fail("JWT has no exp claim");
  }
  auto exp = numeric_date(*exp_it);
  if (!exp) {
    return fail("JWT exp claim is not a valid NumericDate");
  }
  JwtTimes out{*exp, std::nullopt, {}};
  auto iat_it = claims->find("iat");
  if (iat_it != claims->end()) {
    out.iat = numeric_date(*iat_it);
  }
  auto aud_it = claims->find("aud");
  if (aud_it != claims->end()) {
    if (aud_it->is_string()) {
      out.aud.push_back(aud_it->get<std::string>());
    } else if (aud_it->is_array()) {
      for (const auto& a : *aud_it) {
        if (a.is_string()) {
          out.aud.push_back(a.get<std::string>());
        }
      }
    }
  }
  return out;
}

bool has_audience(const JwtTimes& times, std::string_view audience) {
  if (audience.empty()) {
    return false;
  }
  for (const auto& a : times.aud) {
    if (a == audience) {
      return true;
    }
  }
  return false;
}


}  // namespace gtoken::agent
