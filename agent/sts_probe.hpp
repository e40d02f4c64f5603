#pragma once
// `gtoken probe --sts`: one real sts:AssumeRoleWithWebIdentity with the
// pod's token, for `kubectl gtoken doctor pod --sts` (docs/plugin.md). The
// request is the query API's unsigned form; the answer is reduced to who
// the caller became, or AWS's own Code and Message. The credentials STS
// hands out are read past and dropped: they never reach stdout, a log line
// or an error, and neither does the token.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "aws/sts.hpp"

namespace gtoken::agent {

inline constexpr const char* kDefaultStsEndpoint = aws::kStsDefaultEndpoint;
inline constexpr const char* kDefaultStsSessionName = "gtoken-probe";
// The shortest session the API grants: the probe wants an answer, not a session.
inline constexpr int kStsProbeDurationSeconds = aws::kStsMinDurationSeconds;

// The form body of AssumeRoleWithWebIdentity (aws/sts.hpp), DurationSeconds 900.
std::string web_identity_form(std::string_view role_arn, std::string_view session_name,
                              std::string_view token);

using aws::valid_session_name;

// What one answer says, as the probe prints it:
//   {"ok":true,"arn":...,"assumedRoleId":...,"expiration":...} on a
//   well-formed AssumeRoleWithWebIdentityResponse;
//   {"ok":false,"code":...,"message":...,"status":N} on an ErrorResponse;
//   {"ok":false,"error":...,"status":N} otherwise (a 2xx body is never
//   quoted: it may hold credentials).
nlohmann::json sts_answer(int status, std::string_view body);

}  // namespace gtoken::agent
