#pragma once
// STS AssumeRoleWithWebIdentity on the wire: the query API's unsigned form
// (Version 2011-06-15) and what an answer says. Pure text, in
// gtoken_aws_text: the agent's `gtoken probe --sts` reads answers with it
// (and drops the credentials), the operator's web-identity credential
// source (aws/web_identity_credentials.hpp) keeps them.

#include <string>
#include <string_view>

#include "aws/credentials.hpp"

namespace gtoken::aws {

inline constexpr const char* kStsDefaultEndpoint = "https://sts.amazonaws.com";
// The shortest and the default session STS grants, in seconds.
inline constexpr int kStsMinDurationSeconds = 900;
inline constexpr int kStsDefaultDurationSeconds = 3600;

// The form body (application/x-www-form-urlencoded, AWS's percent-encoding)
// of AssumeRoleWithWebIdentity.
std::string web_identity_form(std::string_view role_arn, std::string_view session_name,
                              std::string_view token, int duration_seconds);

// STS's RoleSessionName rule: 2 to 64 of [A-Za-z0-9+=,.@_-].
bool valid_session_name(std::string_view name);

// One answer of STS to AssumeRoleWithWebIdentity.
struct StsAnswer {
  enum class Kind {
    Assumed,   // a well-formed AssumeRoleWithWebIdentityResponse
    AwsError,  // an ErrorResponse with a Code: `code`, `message`
    Other,     // anything else: `error` says what, never quoting a 2xx body
  };
  Kind kind = Kind::Other;
  int status = 0;
  std::string arn;              // AssumedRoleUser
  std::string assumed_role_id;
  std::string subject;          // SubjectFromWebIdentityToken, when given
  std::string expiration;       // Credentials/Expiration as sent (ISO 8601)
  Credentials credentials;      // empty unless all three parts were sent
  std::string code;
  std::string message;
  std::string error;
};

StsAnswer parse_web_identity_answer(int status, std::string_view body);

}  // namespace gtoken::aws
