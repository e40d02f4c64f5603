#pragma once
// The AWS IAM calls the controller makes for trust policies and the
// cluster's OIDC provider, as functions: the reconciler (verify) and
// TrustWriter (apply) call these, aws_io() sends them through
// aws::IamClient, tests script them.
//
// Errors: aws::IamCallError for an answer IAM gave (NoSuchEntity,
// AccessDenied, Throttling, ...), aws::AwsCredentialsError when the
// operator has no usable AWS credentials, kube::NetworkError when IAM
// cannot be reached.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aws/iam.hpp"

namespace gtoken {

namespace aws {
class IamClient;
}

struct AwsIo {
  std::function<aws::IamRole(const std::string& role_name)> get_role;
  std::function<void(const std::string& role_name, const std::string& document)>
      update_assume_role_policy;
  // Provider ARNs.
  std::function<std::vector<std::string>()> list_oidc_providers;
  std::function<aws::IamOidcProvider(const std::string& provider_arn)> get_oidc_provider;
  // `url` with its https:// scheme; no thumbprints (IAM fetches the
  // issuer's certificate itself). Returns the new provider's ARN.
  std::function<std::string(const std::string& url, const std::vector<std::string>& client_ids)>
      create_oidc_provider;
  std::function<void(const std::string& provider_arn, const std::string& client_id)>
      add_client_id_to_oidc_provider;

  bool configured() const { return static_cast<bool>(get_role); }
};

AwsIo aws_io(std::shared_ptr<aws::IamClient> iam);

}  // namespace gtoken
