#include "agent/sources.hpp"

#include <cctype>
#include <nlohmann/json.hpp>

#include "agent/plain_http.hpp"
#include "kube/errors.hpp"

namespace gtoken::agent {

namespace {

constexpr const char* kIdentityPath =
    "/computeMetadata/v1/instance/service-accounts/default/identity";
constexpr const char* kAccessTokenPath =
    "/computeMetadata/v1/instance/service-accounts/default/token";

// Refresh the cached access token this long before it expires.
constexpr std::chrono::seconds kAccessTokenMargin{60};

std::string trim(std::string s) {
  size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) {
    ++b;
  }
  size_t e = s.size();
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) {
    --e;
  }
  return s.substr(b, e - b);
}

// A short, printable excerpt of an error body: Google APIs answer JSON
// {"error":{"message":...}}, the metadata server plain text.
std::string body_excerpt(const std::string& body) {
  std::string text = body;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) {
      text = e["message"].get<std::string>();
    } else if (e.is_string()) {
      text = e.get<std::string>();
    }
  }
  std::string out;
  for (char c : text) {
    if (out.size() >= 200) {
      out += "...";
      break;
    }
    out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : ' ');
  }
  return trim(out);
}

std::string metadata_hint(int status) {
  switch (status) {
    case 400:
      return "the metadata server rejected the request: check that --audience (GTOKEN_AUDIENCE) "
             "is set and non-empty";
    case 403:
      return "the metadata server refused the request: check that the node pool runs the GKE "
             "metadata server (Workload Identity enabled) and that the GSA grants "
             "roles/iam.workloadIdentityUser to this KSA";
    case 404:
      return "this pod's KSA is not bound to a GSA: check iam.gke.io/gcp-service-account and "
             "the Workload Identity binding";
    default:
      return {};
  }
}

FetchError http_error(const char* what, const kube::HttpResponse& r, std::string hint) {
  FetchError e;
  e.kind = classify_status(r.status);
  e.http_status = r.status;
  e.message = std::string(what) + " answered HTTP " + std::to_string(r.status);
  std::string excerpt = body_excerpt(r.body);
  if (!excerpt.empty()) {
    e.message += ": " + excerpt;
  }
  e.hint = std::move(hint);
  return e;
}

FetchError network_error(const char* what, const std::exception& ex) {
  return FetchError{ErrorKind::transient, 0, std::string(what) + " unreachable: " + ex.what(), {}};
}

FetchResult token_from_body(const char* what, std::string body) {
  std::string token = trim(std::move(body));
  std::string why;
  if (!parse_jwt_times(token, &why)) {
    return FetchResult::failure({ErrorKind::invalid_token,
                                 200,
                                 std::string(what) + " answered 200 without a usable token: " + why,
                                 {}});
  }
  return FetchResult::success(std::move(token));
}

}  // namespace

const char* kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::transient:
      return "transient";
    case ErrorKind::config:
      return "config";
    case ErrorKind::invalid_token:
      return "invalid_token";
    case ErrorKind::wrong_audience:
      return "wrong_audience";
    case ErrorKind::write:
      return "write";
  }
  return "transient";
}

ErrorKind classify_status(int s) {
  if (s == 408 || s == 429 || s >= 500) {
    return ErrorKind::transient;
  }
  return ErrorKind::config;
}

std::string metadata_address(const std::string& gce_metadata_host) {
  if (gce_metadata_host.empty() || gce_metadata_host == kDefaultMetadataHost) {
    return kDefaultMetadataAddress;
  }
  return gce_metadata_host;
}

bool valid_service_account_email(const std::string& email) {
  size_t at = email.find('@');
  if (email.empty() || email.size() > 254 || at == 0 || at == std::string::npos ||
      at + 1 >= email.size() || email.find('@', at + 1) != std::string::npos) {
    return false;
  }
  for (unsigned char c : email) {
    if (!(std::isalnum(c) || c == '@' || c == '.' || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

// ---- MetadataTokenSource ----

MetadataTokenSource::MetadataTokenSource(HttpFn http, std::string audience,
                                         std::chrono::milliseconds timeout)
    : http_(std::move(http)), audience_(std::move(audience)), timeout_(timeout) {}

std::string MetadataTokenSource::target() const {
  return std::string(kIdentityPath) + "?audience=" + url_encode(audience_) + "&format=full";
}

FetchResult MetadataTokenSource::fetch() {
  kube::HttpRequest req;
  req.method = "GET";
  req.target = target();
  req.headers = {{"Metadata-Flavor", "Google"}};
  req.timeout = timeout_;
  kube::HttpResponse resp;
  try {
    resp = http_(req);
  } catch (const std::exception& ex) {
    return FetchResult::failure(network_error("metadata server", ex));
  }
  if (resp.status != 200) {
    return FetchResult::failure(http_error("metadata server", resp, metadata_hint(resp.status)));
  }
  return token_from_body("metadata server", std::move(resp.body));
}

// ---- IamTokenSource ----

IamTokenSource::IamTokenSource(HttpFn metadata_http, HttpFn iam_http, std::string email,
                               std::string audience, kube::Clock& clock,
                               std::chrono::milliseconds timeout)
    : metadata_http_(std::move(metadata_http)),
      iam_http_(std::move(iam_http)),
      email_(std::move(email)),
      audience_(std::move(audience)),
      clock_(clock),
      timeout_(timeout) {}

FetchResult IamTokenSource::access_token() {
  if (!access_token_.empty() && clock_.now() < access_token_expiry_) {
    return FetchResult::success(access_token_);
  }
  kube::HttpRequest req;
  req.method = "GET";
  req.target = kAccessTokenPath;
  req.headers = {{"Metadata-Flavor", "Google"}};
  req.timeout = timeout_;
  kube::HttpResponse resp;
  try {
    resp = metadata_http_(req);
  } catch (const std::exception& ex) {
    return FetchResult::failure(network_error("metadata server (access token)", ex));
  }
  if (resp.status != 200) {
    return FetchResult::failure(
        http_error("metadata server (access token)", resp, metadata_hint(resp.status)));
  }
  auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string() ||
      j["access_token"].get<std::string>().empty()) {
    return FetchResult::failure(
        {ErrorKind::transient, 200, "metadata server answered 200 without an access_token", {}});
  }
  long long expires_in = 300;
  if (j.contains("expires_in") && j["expires_in"].is_number()) {
    expires_in = j["expires_in"].get<long long>();
  }
  access_token_ = j["access_token"].get<std::string>();
  access_token_expiry_ = clock_.now() + std::chrono::seconds(expires_in) - kAccessTokenMargin;
  return FetchResult::success(access_token_);
}

FetchResult IamTokenSource::fetch() {
  FetchResult at = access_token();
  if (!at.ok()) {
    return at;
  }

  kube::HttpRequest req;
  req.method = "POST";
  req.target = "/v1/projects/-/serviceAccounts/" + email_ + ":generateIdToken";
  req.headers = {{"Authorization", "Bearer " + at.token}, {"Content-Type", "application/json"}};
  req.body = nlohmann::json{{"audience", audience_}, {"includeEmail", true}}.dump();
  req.timeout = timeout_;
  kube::HttpResponse resp;
  try {
    resp = iam_http_(req);
  } catch (const std::exception& ex) {
    return FetchResult::failure(network_error("IAM Credentials API", ex));
  }
  if (resp.status == 401) {
    // The cached access token was revoked or expired early: fetch a new one
    // next time, at the transient pace.
    access_token_.clear();
    FetchError e = http_error("IAM Credentials API", resp, {});
    e.kind = ErrorKind::transient;
    return FetchResult::failure(std::move(e));
  }
  if (resp.status != 200) {
    std::string hint;
    if (resp.status == 403) {
      hint = "the pod's GSA needs roles/iam.serviceAccountTokenCreator on " + email_;
    } else if (resp.status == 404) {
      hint = "service account " + email_ + " does not exist";
    } else if (resp.status == 400) {
      hint = "check --audience and --gcp-service-account";
    }
    return FetchResult::failure(http_error("IAM Credentials API", resp, std::move(hint)));
  }
  auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (!j.is_object() || !j.contains("token") || !j["token"].is_string()) {
    return FetchResult::failure({ErrorKind::invalid_token,
                                 200,
                                 "IAM Credentials API answered 200 without a token field",
                                 {}});
  }
  return token_from_body("IAM Credentials API", j["token"].get<std::string>());
}

}  // namespace gtoken::agent
