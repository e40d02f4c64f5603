#pragma once
// The operator's own AWS credentials, from --aws-credentials (AwsOptions):
// gke (its GSA's ID token from the metadata server traded at STS for
// --aws-role-arn: no AWS key exists anywhere), web-identity
// (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN), environment, or the shared
// credentials file, each behind aws::RefreshingCredentials; auto picks the
// first that applies (operator/options.hpp says in which order).

#include <memory>
#include <string>

#include "aws/credential_source.hpp"
#include "aws/local_credentials.hpp"
#include "operator/options.hpp"

namespace gtoken {

struct OperatorAwsCredentials {
  std::shared_ptr<aws::CredentialSource> source;  // null: none
  std::string description;  // what was chosen, for the log ("gke: role ARN", "none: ...")
};

// Never calls AWS (credentials are fetched on first use). Throws
// std::invalid_argument when the chosen mode lacks what it needs (a token
// file, a role ARN).
OperatorAwsCredentials operator_aws_credentials(const AwsOptions& options,
                                                const aws::Getenv& getenv,
                                                std::shared_ptr<kube::Clock> clock);

// AwsCredentialsMode::Auto resolved against the environment.
AwsCredentialsMode resolve_aws_credentials_mode(const AwsOptions& options,
                                                const aws::Getenv& getenv);

}  // namespace gtoken
