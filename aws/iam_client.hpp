#pragma once
// IAM's query API over HTTP (kube::HttpClient): each call of aws/iam.hpp
// POSTed as a form, signed with SigV4 (aws/sigv4.hpp) for service "iam" in
// the partition's signing region, the answer read by aws/iam.hpp's parsers.
//
// Errors: IamCallError for a non-2xx answer (IAM's code when the body is an
// ErrorResponse), AwsCredentialsError from the source, kube::NetworkError
// when IAM cannot be reached, IamAnswerError for a 2xx that is not the
// action's answer. An answer saying the session expired (ExpiredToken,
// InvalidClientTokenId, RequestExpired) invalidates the source and sends
// the request once more with new credentials. Throttling and 5xx are not
// retried here: the caller backs off (the reconciler's queue).

#include <memory>
#include <string>
#include <vector>

#include "aws/credential_source.hpp"
#include "aws/iam.hpp"
#include "kube/clock.hpp"

namespace kube {
class HttpClient;
}

namespace gtoken::aws {

class IamClient {
 public:
  // `endpoint_url`: https://iam.amazonaws.com or a stand-in's http://...;
  // `signing_region`: the partition's (aws/partition.hpp).
  IamClient(const std::string& endpoint_url, std::string signing_region,
            std::shared_ptr<CredentialSource> credentials,
            std::shared_ptr<kube::Clock> clock = kube::system_clock());
  ~IamClient();
  IamClient(const IamClient&) = delete;
  IamClient& operator=(const IamClient&) = delete;

  IamRole get_role(const std::string& role_name);
  void update_assume_role_policy(const std::string& role_name, const std::string& document);
  std::vector<std::string> list_oidc_providers();
  IamOidcProvider get_oidc_provider(const std::string& provider_arn);
  std::string create_oidc_provider(const std::string& url,
                                   const std::vector<std::string>& client_ids);
  void add_client_id_to_oidc_provider(const std::string& provider_arn,
                                      const std::string& client_id);

 private:
  // The 2xx body of `form` (its first pair is Action=NAME).
  std::string call(const QueryParams& form);
  std::string send(const QueryParams& form, const Credentials& credentials);

  std::string host_;
  std::string signing_region_;
  std::shared_ptr<CredentialSource> credentials_;
  std::shared_ptr<kube::Clock> clock_;
  std::unique_ptr<kube::HttpClient> http_;
};

}  // namespace gtoken::aws
