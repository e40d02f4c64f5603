#include "aws/sigv4.hpp"

#include <algorithm>
#include <ctime>
#include <map>
#include <stdexcept>

#include "aws/ascii_case.hpp"
#include "aws/digest.hpp"

namespace gtoken::aws {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  });
  return out;
}

bool space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string fold_whitespace(std::string_view v) {
  std::string out;
  bool pending = false;
  for (unsigned char c : v) {
    if (space(c)) {
      pending = !out.empty();
      continue;
    }
    if (pending) out += ' ';
    pending = false;
    out += static_cast<char>(c);
  }
  return out;
}

// botocore's SIGNED_HEADERS_BLACKLIST: hop-by-hop headers and those
// proxies or tracing may rewrite.
bool unsigned_header(std::string_view lname) {
  static constexpr std::string_view kSkip[] = {
      "baggage",    "connection",         "expect",
      "keep-alive", "proxy-authenticate", "proxy-authorization",
      "te",         "traceparent",        "tracestate",
      "trailer",    "transfer-encoding",  "upgrade",
      "user-agent", "x-amzn-trace-id"};
  return std::find(std::begin(kSkip), std::end(kSkip), lname) != std::end(kSkip);
}

bool replaced_header(std::string_view lname) {
  return lname == "host" || lname == "x-amz-date" || lname == "x-amz-security-token" ||
         lname == "authorization";
}

}  // namespace

std::string amz_date(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string canonical_uri(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments.push_back(seg);
    }
    start = end + 1;
  }
  std::string out = path.front() == '/' ? "/" : "";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i) out += '/';
    out += segments[i];
  }
  if (path.back() == '/' && !segments.empty()) out += '/';
  return percent_encode(out, /*keep_slash=*/true);
}

std::string canonical_query(const QueryParams& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [k, v] : query) encoded.emplace_back(percent_encode(k), percent_encode(v));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service) {
  std::string k = hmac_sha256("AWS4" + std::string(secret), date);
  k = hmac_sha256(k, region);
  k = hmac_sha256(k, service);
  return hmac_sha256(k, "aws4_request");
}

CanonicalHeaders canonical_headers(const Headers& headers) {
  std::map<std::string, std::string> by_name;  // sorted by the lower-case name
  for (const auto& [name, value] : headers) {
    std::string lname = ascii_lower(name);
    if (unsigned_header(lname)) continue;
    auto [it, fresh] = by_name.try_emplace(lname, fold_whitespace(value));
    if (!fresh) it->second += "," + fold_whitespace(value);
  }
  CanonicalHeaders out;
  for (const auto& [name, value] : by_name) {
    out.lines.append(name).append(":").append(value).append("\n");
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += name;
  }
  return out;
}

SignedRequest sign_v4(const RequestToSign& request, const Credentials& credentials,
                      const SigningScope& scope, std::chrono::system_clock::time_point now) {
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    throw std::invalid_argument("SigV4: no credentials");
  }
  if (request.host.empty()) throw std::invalid_argument("SigV4: no host");
  SignedRequest out;
  out.amz_date = amz_date(now);
  const std::string date = out.amz_date.substr(0, 8);

  Headers headers;
  std::string payload_hash;
  for (const auto& h : request.headers) {
    std::string lname = ascii_lower(h.first);
    if (replaced_header(lname)) continue;
    // A caller that sends its own payload hash signs that value (S3 style).
    if (lname == "x-amz-content-sha256") payload_hash = h.second;
    headers.push_back(h);
  }
  headers.emplace_back("host", request.host);
  out.added_headers.emplace_back("X-Amz-Date", out.amz_date);
  if (!credentials.session_token.empty()) {
    out.added_headers.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  headers.insert(headers.end(), out.added_headers.begin(), out.added_headers.end());
  if (payload_hash.empty()) payload_hash = hex_lower(sha256(request.payload));

  const CanonicalHeaders canon = canonical_headers(headers);
  out.canonical_request = upper(request.method) + "\n" + canonical_uri(request.path) + "\n" +
                          canonical_query(request.query) + "\n" + canon.lines + "\n" +
                          canon.signed_headers + "\n" + payload_hash;
  const std::string credential_scope =
      date + "/" + scope.region + "/" + scope.service + "/aws4_request";
  out.string_to_sign = std::string(kAlgorithm) + "\n" + out.amz_date + "\n" + credential_scope +
                       "\n" + hex_lower(sha256(out.canonical_request));
  out.signature = hex_lower(
      hmac_sha256(signing_key(credentials.secret_access_key, date, scope.region, scope.service),
                  out.string_to_sign));
  out.authorization = std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
                      credential_scope + ", SignedHeaders=" + canon.signed_headers +
                      ", Signature=" + out.signature;
  out.added_headers.emplace_back("Authorization", out.authorization);
  return out;
}

}  // namespace gtoken::aws
