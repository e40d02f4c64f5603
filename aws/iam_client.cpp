#include "aws/iam_client.hpp"

#include "kube/http.hpp"

namespace gtoken::aws {

namespace {

// "https://iam.amazonaws.com[:port][/...]" -> the Host header's value (the
// scheme's default port left out, as signed).
std::string host_of(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) throw std::invalid_argument("not a URL: " + url);
  const std::string scheme = url.substr(0, scheme_end);
  std::string host = url.substr(scheme_end + 3);
  host = host.substr(0, host.find('/'));
  for (auto& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if ((scheme == "https" && host.ends_with(":443")) || (scheme == "http" && host.ends_with(":80"))) {
    host.resize(host.rfind(':'));
  }
  if (host.empty()) throw std::invalid_argument("no host in " + url);
  return host;
}

const std::string& action_of(const QueryParams& form) { return form.front().second; }

}  // namespace

IamClient::IamClient(const std::string& endpoint_url, std::string signing_region,
                     std::shared_ptr<CredentialSource> credentials,
                     std::shared_ptr<kube::Clock> clock)
    : host_(host_of(endpoint_url)),
      signing_region_(std::move(signing_region)),
      credentials_(std::move(credentials)),
      clock_(std::move(clock)) {
  kube::HttpOptions o;
  o.base_url = endpoint_url;
  o.request_timeout = std::chrono::seconds(20);
  http_ = std::make_unique<kube::HttpClient>(o);
}

IamClient::~IamClient() = default;

std::string IamClient::send(const QueryParams& form, const Credentials& credentials) {
  RequestToSign r;
  r.method = "POST";
  r.host = host_;
  r.path = "/";
  r.headers = {{"Content-Type", std::string(kIamContentType)}};
  r.payload = form_encode(form);
  SignedRequest s = sign_v4(r, credentials, {signing_region_, std::string(kIamService)},
                            clock_->now());
  kube::HttpRequest req;
  req.method = "POST";
  req.target = "/";
  req.headers = r.headers;
  for (auto& h : s.added_headers) req.headers.push_back(h);
  req.body = std::move(r.payload);
  kube::HttpResponse resp = http_->request(req);
  if (resp.status >= 200 && resp.status < 300) return std::move(resp.body);
  IamError error = parse_error_response(resp.body).value_or(IamError{});
  const std::string what = "IAM " + action_of(form) + ": HTTP " + std::to_string(resp.status) +
                           (error.code.empty() ? "" : " " + error.code) +
                           (error.message.empty() ? "" : ": " + error.message);
  throw IamCallError(resp.status, std::move(error), what);
}

std::string IamClient::call(const QueryParams& form) {
  try {
    return send(form, credentials_->get());
  } catch (const IamCallError& e) {
    if (!e.expired_credentials()) throw;
    credentials_->invalidate();
    return send(form, credentials_->get());
  }
}

IamRole IamClient::get_role(const std::string& role_name) {
  return parse_get_role(call(iam_get_role(role_name)));
}

void IamClient::update_assume_role_policy(const std::string& role_name,
                                          const std::string& document) {
  call(iam_update_assume_role_policy(role_name, document));
}

std::vector<std::string> IamClient::list_oidc_providers() {
  return parse_list_oidc_providers(call(iam_list_oidc_providers()));
}

IamOidcProvider IamClient::get_oidc_provider(const std::string& provider_arn) {
  return parse_get_oidc_provider(call(iam_get_oidc_provider(provider_arn)));
}

std::string IamClient::create_oidc_provider(const std::string& url,
                                            const std::vector<std::string>& client_ids) {
  return parse_create_oidc_provider(call(iam_create_oidc_provider(url, client_ids, {})));
}

void IamClient::add_client_id_to_oidc_provider(const std::string& provider_arn,
                                               const std::string& client_id) {
  call(iam_add_client_id_to_oidc_provider(provider_arn, client_id));
}

}  // namespace gtoken::aws
