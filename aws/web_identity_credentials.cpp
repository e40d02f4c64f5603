#include "aws/web_identity_credentials.hpp"

#include <fstream>
#include <sstream>

#include "aws/sts.hpp"
#include "kube/errors.hpp"
#include "kube/http.hpp"
#include "kube/time.hpp"

namespace gtoken::aws {

WebIdentityCredentials::WebIdentityCredentials(WebIdentitySettings settings,
                                               std::function<std::string()> token)
    : settings_(std::move(settings)), token_(std::move(token)) {
  if (settings_.role_arn.empty()) throw std::invalid_argument("web identity: no role ARN");
  if (!valid_session_name(settings_.session_name)) {
    throw std::invalid_argument("web identity: invalid session name " + settings_.session_name);
  }
  kube::HttpOptions o;
  o.base_url = settings_.sts_endpoint;
  o.request_timeout = std::chrono::seconds(20);
  http_ = std::make_unique<kube::HttpClient>(o);
}

WebIdentityCredentials::~WebIdentityCredentials() = default;

ExpiringCredentials WebIdentityCredentials::fetch() {
  const std::string token = token_();
  if (token.empty()) throw AwsCredentialsError("the web identity token is empty");
  kube::HttpRequest req;
  req.method = "POST";
  req.target = "/";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                 {"Accept", "text/xml"}};
  req.body = web_identity_form(settings_.role_arn, settings_.session_name, token,
                               settings_.duration_seconds);
  kube::HttpResponse resp;
  try {
    resp = http_->request(req);
  } catch (const kube::NetworkError& e) {
    throw AwsCredentialsError(std::string("STS cannot be reached: ") + e.what());
  }
  StsAnswer a = parse_web_identity_answer(resp.status, resp.body);
  switch (a.kind) {
    case StsAnswer::Kind::AwsError:
      throw AwsCredentialsError("STS AssumeRoleWithWebIdentity into " + settings_.role_arn +
                                ": HTTP " + std::to_string(a.status) + " " + a.code + ": " +
                                a.message);
    case StsAnswer::Kind::Other:
      throw AwsCredentialsError(a.error);
    case StsAnswer::Kind::Assumed:
      break;
  }
  if (a.credentials.access_key_id.empty()) {
    throw AwsCredentialsError("STS answered without complete Credentials");
  }
  const auto expiration = kube::parse_rfc3339(a.expiration);
  if (!expiration) throw AwsCredentialsError("STS answered an Expiration that is not a time");
  return {std::move(a.credentials), *expiration};
}

std::string read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw AwsCredentialsError("web identity token file " + path + " cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  std::string t = text.str();
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  const auto b = t.find_first_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : t.substr(b);
}

}  // namespace gtoken::aws
