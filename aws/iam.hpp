#pragma once
// IAM's query API (version 2010-05-08) for the calls gtoken makes: the form
// of each request, and the XML answers read back. Names are validated
// before they go into a request (IAM's own patterns and lengths). Pure.

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "aws/percent_encoding.hpp"

namespace gtoken::aws {

inline constexpr std::string_view kIamVersion = "2010-05-08";
inline constexpr std::string_view kIamService = "iam";
inline constexpr std::string_view kIamContentType =
    "application/x-www-form-urlencoded; charset=utf-8";

// A name that IAM would refuse (so it is never sent), or an answer that is
// not the expected shape.
struct IamInputError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct IamAnswerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// True for a role name IAM accepts: [\w+=,.@-]{1,64}.
bool valid_role_name(std::string_view name);
// The role name of "arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME"; nullopt if
// `arn` is not a role ARN with a valid name.
std::optional<std::string> role_name_of_arn(std::string_view arn);

// Request forms: Action, Version, then the parameters, ready for
// form_encode as the POST body. Each throws IamInputError on an invalid name.
QueryParams iam_get_role(std::string_view role_name);
QueryParams iam_update_assume_role_policy(std::string_view role_name,
                                          std::string_view policy_document);
QueryParams iam_create_oidc_provider(std::string_view url,
                                     const std::vector<std::string>& client_ids,
                                     const std::vector<std::string>& thumbprints);
QueryParams iam_get_oidc_provider(std::string_view provider_arn);
QueryParams iam_list_oidc_providers();
QueryParams iam_add_client_id_to_oidc_provider(std::string_view provider_arn,
                                               std::string_view client_id);

struct IamRole {
  std::string name;
  std::string id;
  std::string arn;
  std::string path;
  std::string create_date;
  std::string trust_policy;  // AssumeRolePolicyDocument, URL-decoded (JSON text)
};

struct IamOidcProvider {
  std::string url;  // as IAM keeps it: without the https:// scheme
  std::vector<std::string> client_ids;
  std::vector<std::string> thumbprints;
  std::string create_date;
};

// ErrorResponse/Error: what IAM said went wrong.
struct IamError {
  std::string type;  // Sender or Receiver
  std::string code;  // NoSuchEntity, MalformedPolicyDocument, LimitExceeded, Throttling, ...
  std::string message;
  std::string request_id;
};

// Answers of a 2xx; each throws IamAnswerError (malformed XML included) when
// the body is not that action's response.
IamRole parse_get_role(std::string_view body);
IamOidcProvider parse_get_oidc_provider(std::string_view body);
std::vector<std::string> parse_list_oidc_providers(std::string_view body);  // provider ARNs
std::string parse_create_oidc_provider(std::string_view body);              // the new ARN

// The error of a non-2xx answer; nullopt when the body is not an
// ErrorResponse (a proxy's page, an empty body).
std::optional<IamError> parse_error_response(std::string_view body);

// A non-2xx answer from IAM, as thrown by the IAM client (aws/iam_client.hpp):
// the HTTP status and IAM's own error (code "" when the body was not an
// ErrorResponse). what() names the action and the code, never a credential.
class IamCallError : public std::runtime_error {
 public:
  IamCallError(int http, IamError error, const std::string& what)
      : std::runtime_error(what), http_(http), error_(std::move(error)) {}
  int http() const { return http_; }
  const IamError& error() const { return error_; }
  const std::string& code() const { return error_.code; }
  bool no_such_entity() const { return error_.code == "NoSuchEntity" || http_ == 404; }
  bool access_denied() const { return error_.code == "AccessDenied" || http_ == 403; }
  // Worth sending again later: throttling and IAM's own failures.
  bool retryable() const {
    return http_ == 429 || http_ >= 500 || error_.code == "Throttling" ||
           error_.code == "ServiceFailure" || error_.code == "ServiceUnavailable" ||
           error_.code == "RequestLimitExceeded";
  }
  // The session the request was signed with is no longer valid: fetch new
  // credentials and send again.
  bool expired_credentials() const {
    return error_.code == "ExpiredToken" || error_.code == "InvalidClientTokenId" ||
           error_.code == "RequestExpired";
  }

 private:
  int http_;
  IamError error_;
};

}  // namespace gtoken::aws
