#pragma once
// Credentials from STS AssumeRoleWithWebIdentity (unsigned, the query API
// over kube::HttpClient): a token from `token()` (a web identity token
// file, or the GKE metadata server's ID token of the operator's own GSA)
// traded for the role's session. fetch() is what RefreshingCredentials
// calls. Errors (AwsCredentialsError) carry STS's Code and Message or what
// failed, never the token or a key.

#include <functional>
#include <memory>
#include <string>

#include "aws/refreshing_credentials.hpp"

namespace kube {
class HttpClient;
}

namespace gtoken::aws {

struct WebIdentitySettings {
  std::string sts_endpoint = "https://sts.amazonaws.com";
  std::string role_arn;
  std::string session_name = "gtoken-operator";
  int duration_seconds = 3600;
};

class WebIdentityCredentials {
 public:
  // `token` throws (any std::exception) when it has none.
  WebIdentityCredentials(WebIdentitySettings settings, std::function<std::string()> token);
  ~WebIdentityCredentials();
  WebIdentityCredentials(const WebIdentityCredentials&) = delete;
  WebIdentityCredentials& operator=(const WebIdentityCredentials&) = delete;

  ExpiringCredentials fetch();

 private:
  WebIdentitySettings settings_;
  std::function<std::string()> token_;
  std::unique_ptr<kube::HttpClient> http_;
};

// The content of a token file (AWS_WEB_IDENTITY_TOKEN_FILE), whitespace
// trimmed; throws AwsCredentialsError naming the path.
std::string read_token_file(const std::string& path);

}  // namespace gtoken::aws
