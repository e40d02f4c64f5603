#include "operator/google.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "kube/base64.hpp"
#include "kube/errors.hpp"

namespace gtoken {

namespace {

// Splits "https://host:port/base/path" into origin and path prefix.
std::pair<std::string, std::string> split_url(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) throw std::invalid_argument("not a URL: " + url);
  auto slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) return {url, ""};
  std::string prefix = url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return {url.substr(0, slash), prefix};
}

kube::HttpOptions options_for(const std::string& origin) {
  kube::HttpOptions o;
  o.base_url = origin;
  o.connect_timeout = std::chrono::seconds(5);
  o.request_timeout = std::chrono::seconds(15);
  o.user_agent = "gtoken-operator/0.1";
  o.max_idle_connections = 32;  // one per concurrent reconcile: no TLS handshake per call
  return o;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += '&';
    out += kube::url_encode(k) + "=" + kube::url_encode(v);
  }
  return out;
}

}  // namespace

GoogleError google_error_from(int http, const std::string& body, const std::string& what) {
  auto j = json::parse(body, nullptr, false);
  std::string status;
  std::string message;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    status = j["error"].value("status", "");
    message = j["error"].value("message", "");
  } else if (j.is_object() && j.contains("error")) {  // OAuth: {"error","error_description"}
    status = j.value("error", "");
    message = j.value("error_description", "");
  } else {
    message = body.substr(0, 300);
  }
  std::string text = what + ": HTTP " + std::to_string(http);
  if (!status.empty()) text += " " + status;
  if (!message.empty()) text += ": " + message;
  return GoogleError(http, status, text);
}

std::string metadata_base_url() {
  const char* host = std::getenv("GCE_METADATA_HOST");
  if (host && *host) return std::string("http://") + host;
  return "http://169.254.169.254";
}

std::string CachingTokenSource::token() {
  std::lock_guard lock(mu_);
  auto now = clock_->now();
  if (token_.empty() || now >= refresh_at_) {
    Fetched f;
    try {
      f = fetch();
    } catch (const std::exception&) {
      if (!token_.empty() && now < expiry_) return token_;  // still valid: retry next call
      throw;
    }
    token_ = std::move(f.token);
    // A token with less than two margins of life left would be fetched on
    // every call: refresh it after three quarters of its life instead.
    expiry_ = now + f.expires_in;
    refresh_at_ = f.expires_in < 2 * margin_ ? now + f.expires_in * 3 / 4 : expiry_ - margin_;
  }
  return token_;
}

void CachingTokenSource::invalidate() {
  std::lock_guard lock(mu_);
  token_.clear();
  expiry_ = {};
  refresh_at_ = {};
}

MetadataTokenSource::MetadataTokenSource(std::string base_url, std::shared_ptr<kube::Clock> clock)
    : CachingTokenSource(std::move(clock)), http_(options_for(base_url)) {}

CachingTokenSource::Fetched MetadataTokenSource::fetch() {
  kube::HttpRequest req;
  req.target = "/computeMetadata/v1/instance/service-accounts/default/token";
  req.headers = {{"Metadata-Flavor", "Google"}};
  auto res = http_.request(req);
  if (res.status != 200) throw google_error_from(res.status, res.body, "metadata access token");
  auto j = json::parse(res.body, nullptr, false);
  if (!j.is_object() || !j.contains("access_token")) {
    throw GoogleError(res.status, "", "metadata access token: answer has no access_token");
  }
  return {j["access_token"].get<std::string>(), std::chrono::seconds(j.value("expires_in", 300))};
}

std::string rs256_sign(const std::string& private_key_pem, const std::string& data) {
  BIO* bio = BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size()));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!key) throw std::invalid_argument("service account key: private_key is not a PEM key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) throw std::runtime_error("RS256 signing failed");
  return sig;
}

KeyFileTokenSource::KeyFileTokenSource(const std::string& path, std::shared_ptr<kube::Clock> clock)
    : CachingTokenSource(std::move(clock)), path_(path) {
  load();
}

void KeyFileTokenSource::load() {
  const std::string& path = path_;
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(path, ec);
  auto size = ec ? 0 : std::filesystem::file_size(path, ec);
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("GOOGLE_APPLICATION_CREDENTIALS " + path + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str(), nullptr, false);
  if (!j.is_object()) throw std::invalid_argument("key file " + path + ": not JSON");
  if (j.value("type", "") != "service_account") {
    throw std::invalid_argument("key file " + path + ": type must be service_account");
  }
  for (const char* field : {"client_email", "private_key", "token_uri"}) {
    if (!j.contains(field) || !j[field].is_string()) {
      throw std::invalid_argument("key file " + path + ": missing field " + field);
    }
  }
  std::string token_uri = j["token_uri"];
  auto [origin, prefix] = split_url(token_uri);
  if (!http_ || token_uri != token_uri_) {
    http_ = std::make_unique<kube::HttpClient>(options_for(origin));
  }
  client_email_ = j["client_email"];
  private_key_pem_ = j["private_key"];
  private_key_id_ = j.value("private_key_id", "");
  token_uri_ = std::move(token_uri);
  token_path_ = prefix.empty() ? "/" : prefix;
  if (!ec) {
    key_mtime_ = mtime;
    key_size_ = size;
  }
}

CachingTokenSource::Fetched KeyFileTokenSource::fetch() {
  // A rotated key (a Secret update rewrites the mounted file): read it again
  // before signing. fetch() runs under CachingTokenSource's lock.
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(path_, ec);
  auto size = ec ? 0 : std::filesystem::file_size(path_, ec);
  if (!ec && (mtime != key_mtime_ || size != key_size_)) {
    try {
      load();
    } catch (const std::invalid_argument&) {
      // Half-written or broken: keep signing with the key we have.
    }
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!private_key_id_.empty()) header["kid"] = private_key_id_;
  json claims = {{"iss", client_email_},
                 {"scope", "https://www.googleapis.com/auth/cloud-platform"},
                 {"aud", token_uri_},
                 {"iat", now},
                 {"exp", now + 3600}};
  std::string signing_input =
      kube::base64url_encode(header.dump()) + "." + kube::base64url_encode(claims.dump());
  std::string assertion =
      signing_input + "." + kube::base64url_encode(rs256_sign(private_key_pem_, signing_input));
  kube::HttpRequest req;
  req.method = "POST";
  req.target = token_path_;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  req.body = form_encode(
      {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {"assertion", assertion}});
  auto res = http_->request(req);
  if (res.status != 200) throw google_error_from(res.status, res.body, "OAuth token exchange");
  auto j = json::parse(res.body, nullptr, false);
  if (!j.is_object() || !j.contains("access_token")) {
    throw GoogleError(res.status, "", "OAuth token exchange: answer has no access_token");
  }
  return {j["access_token"].get<std::string>(), std::chrono::seconds(j.value("expires_in", 3600))};
}

std::shared_ptr<AccessTokenSource> default_access_token_source() {
  const char* key = std::getenv("GOOGLE_APPLICATION_CREDENTIALS");
  if (key && *key) return std::make_shared<KeyFileTokenSource>(key);
  return std::make_shared<MetadataTokenSource>();
}

namespace {

// GET a metadata server path (Metadata-Flavor: Google); the body, trailing
// newline and spaces cut. `what` names it in errors.
std::string metadata_get(const std::string& base_url, const std::string& target,
                         const char* what) {
  kube::HttpClient http(options_for(base_url));
  kube::HttpRequest req;
  req.target = target;
  req.headers = {{"Metadata-Flavor", "Google"}};
  auto res = http.request(req);
  if (res.status != 200) throw google_error_from(res.status, res.body, what);
  std::string body = res.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
  return body;
}

}  // namespace

std::string metadata_project_id(const std::string& base_url) {
  return metadata_get(base_url, "/computeMetadata/v1/project/project-id", "metadata project-id");
}

std::string metadata_id_token(const std::string& audience, const std::string& base_url) {
  return metadata_get(base_url,
                      "/computeMetadata/v1/instance/service-accounts/default/identity?audience=" +
                          kube::url_encode(audience) + "&format=full",
                      "metadata identity");
}

IamClient::IamClient(std::string endpoint, std::shared_ptr<AccessTokenSource> tokens,
                     double read_qps, double write_qps)
    : tokens_(std::move(tokens)),
      read_limiter_(read_qps > 0 ? std::make_shared<kube::BucketRateLimiter>(
                                       read_qps, std::max(1.0, read_qps))
                                 : nullptr),
      write_limiter_(write_qps > 0 ? std::make_shared<kube::BucketRateLimiter>(
                                         write_qps, std::max(1.0, write_qps))
                                   : nullptr),
      http_(options_for(split_url(endpoint).first)),
      prefix_(split_url(endpoint).second) {}

json IamClient::call(const std::string& method, const std::string& path, const std::string& body,
                     bool write) {
  for (int attempt = 0;; ++attempt) {
    // Reserve a slot under the quota and wait for it.
    if (auto& limiter = write ? write_limiter_ : read_limiter_) {
      auto wait = limiter->when("");
      if (wait > kube::Clock::duration::zero()) std::this_thread::sleep_for(wait);
    }
    ++calls_;
    std::string token;
    try {
      token = tokens_->token();
    } catch (const GoogleError& e) {
      // Not the IAM API's answer: keep it apart from a 404/403 about the GSA.
      throw GoogleError(401, "UNAUTHENTICATED",
                        std::string("no Google access token for the IAM API: ") + e.what());
    }
    kube::HttpRequest req;
    req.method = method;
    req.target = prefix_ + path;
    req.headers = {{"Authorization", "Bearer " + token},
                   {"Content-Type", "application/json"},
                   {"Accept", "application/json"}};
    req.body = body;
    auto res = http_.request(req);
    if (res.status == 401 && attempt == 0) {
      // Revoked or expired early: fetch a new token and try once more.
      tokens_->invalidate();
      continue;
    }
    if (res.status < 200 || res.status >= 300) {
      throw google_error_from(res.status, res.body, "IAM " + method + " " + path);
    }
    auto j = json::parse(res.body, nullptr, false);
    if (j.is_discarded()) throw GoogleError(res.status, "", "IAM " + path + ": answer is not JSON");
    return j;
  }
}

json IamClient::get_service_account(const std::string& email, const std::string& project) {
  return call("GET",
              "/v1/projects/" + kube::url_encode(project) + "/serviceAccounts/" +
                  kube::url_encode(email),
              "");
}

json IamClient::get_iam_policy(const std::string& email) {
  return call("POST",
              "/v1/projects/-/serviceAccounts/" + kube::url_encode(email) +
                  ":getIamPolicy?options.requestedPolicyVersion=3",
              "");
}

json IamClient::set_iam_policy(const std::string& email, const json& policy) {
  return call("POST", "/v1/projects/-/serviceAccounts/" + kube::url_encode(email) + ":setIamPolicy",
              json{{"policy", policy}}.dump(), /*write=*/true);
}

}  // namespace gtoken
