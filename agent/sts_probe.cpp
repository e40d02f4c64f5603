#include "agent/sts_probe.hpp"

namespace gtoken::agent {

std::string web_identity_form(std::string_view role_arn, std::string_view session_name,
                              std::string_view token) {
  return aws::web_identity_form(role_arn, session_name, token, kStsProbeDurationSeconds);
}

nlohmann::json sts_answer(int status, std::string_view body) {
  const aws::StsAnswer a = aws::parse_web_identity_answer(status, body);
  switch (a.kind) {
    case aws::StsAnswer::Kind::Assumed: {
      // a.credentials are dropped here: the probe reports who, never the keys.
      nlohmann::json out = {{"ok", true},
                            {"arn", a.arn},
                            {"assumedRoleId", a.assumed_role_id},
                            {"expiration", a.expiration}};
      if (!a.subject.empty()) out["subject"] = a.subject;
      return out;
    }
    case aws::StsAnswer::Kind::AwsError:
      return {{"ok", false}, {"code", a.code}, {"message", a.message}, {"status", status}};
    case aws::StsAnswer::Kind::Other:
      break;
  }
  return {{"ok", false}, {"error", a.error}, {"status", status}};
}

}  // namespace gtoken::agent
