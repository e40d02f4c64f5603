#include "operator/aws_credentials.hpp"

#include <filesystem>

#include "aws/refreshing_credentials.hpp"
#include "aws/web_identity_credentials.hpp"
#include "operator/google.hpp"

namespace gtoken {

namespace {

bool set(const aws::Getenv& getenv, const char* name) {
  auto v = getenv(name);
  return v && !v->empty();
}

std::string shared_file(const AwsOptions& o, const aws::Getenv& getenv) {
  return o.shared_credentials_file.empty() ? aws::default_shared_credentials_file(getenv)
                                           : o.shared_credentials_file;
}

std::shared_ptr<aws::CredentialSource> refreshing(std::string name, aws::RefreshingCredentials::Fetch f,
                                                  std::shared_ptr<kube::Clock> clock) {
  return std::make_shared<aws::RefreshingCredentials>(std::move(name), std::move(f),
                                                      std::move(clock));
}

}  // namespace

AwsCredentialsMode resolve_aws_credentials_mode(const AwsOptions& o, const aws::Getenv& getenv) {
  if (o.credentials != AwsCredentialsMode::Auto) return o.credentials;
  if (set(getenv, "AWS_WEB_IDENTITY_TOKEN_FILE") &&
      (set(getenv, "AWS_ROLE_ARN") || !o.role_arn.empty())) {
    return AwsCredentialsMode::WebIdentity;
  }
  if (set(getenv, "AWS_ACCESS_KEY_ID")) return AwsCredentialsMode::Environment;
  if (!o.role_arn.empty()) return AwsCredentialsMode::Gke;
  std::error_code ec;
  if (std::filesystem::is_regular_file(shared_file(o, getenv), ec)) {
    return AwsCredentialsMode::SharedFile;
  }
  return AwsCredentialsMode::None;
}

OperatorAwsCredentials operator_aws_credentials(const AwsOptions& o, const aws::Getenv& getenv,
                                                std::shared_ptr<kube::Clock> clock) {
  aws::WebIdentitySettings sts;
  sts.sts_endpoint = o.sts_endpoint;
  sts.session_name = o.session_name;
  switch (resolve_aws_credentials_mode(o, getenv)) {
    case AwsCredentialsMode::Auto:
    case AwsCredentialsMode::None:
      return {nullptr, "none"};
    case AwsCredentialsMode::Gke: {
      sts.role_arn = o.role_arn;
      auto web = std::make_shared<aws::WebIdentityCredentials>(
          sts, [audience = o.audience] { return metadata_id_token(audience); });
      return {refreshing("gke", [web] { return web->fetch(); }, clock),
              "gke: the operator's GSA's ID token (audience " + o.audience + ") traded at " +
                  o.sts_endpoint + " for " + o.role_arn};
    }
    case AwsCredentialsMode::WebIdentity: {
      const auto file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE").value_or("");
      if (file.empty()) throw std::invalid_argument("web-identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set");
      sts.role_arn = getenv("AWS_ROLE_ARN").value_or(o.role_arn);
      if (sts.role_arn.empty()) throw std::invalid_argument("web-identity: neither AWS_ROLE_ARN nor --aws-role-arn is set");
      auto web = std::make_shared<aws::WebIdentityCredentials>(
          sts, [file] { return aws::read_token_file(file); });
      return {refreshing("web identity token file", [web] { return web->fetch(); }, clock),
              "web-identity: " + file + " traded at " + o.sts_endpoint + " for " + sts.role_arn};
    }
    case AwsCredentialsMode::Environment:
      return {refreshing("environment", [getenv] { return aws::environment_credentials(getenv); },
                         clock),
              "environment: AWS_ACCESS_KEY_ID"};
    case AwsCredentialsMode::SharedFile: {
      const std::string path = shared_file(o, getenv);
      const std::string profile = o.profile.empty() ? aws::default_profile(getenv) : o.profile;
      return {refreshing("shared credentials file",
                         [path, profile] { return aws::shared_file_credentials(path, profile); },
                         clock),
              "shared-file: " + path + " [" + profile + "]"};
    }
  }
  return {nullptr, "none"};
}

}  // namespace gtoken
