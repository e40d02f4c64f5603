#include "aws/sts.hpp"

#include "aws/percent_encoding.hpp"
#include "aws/xml.hpp"

namespace gtoken::aws {

namespace {

// A short, printable excerpt of a non-AWS error body (a proxy's page).
std::string excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  return out;
}

StsAnswer other(int status, std::string why) {
  StsAnswer a;
  a.status = status;
  a.error = std::move(why);
  return a;
}

}  // namespace

std::string web_identity_form(std::string_view role_arn, std::string_view session_name,
                              std::string_view token, int duration_seconds) {
  return form_encode({{"Action", "AssumeRoleWithWebIdentity"},
                      {"Version", "2011-06-15"},
                      {"RoleArn", std::string(role_arn)},
                      {"RoleSessionName", std::string(session_name)},
                      {"WebIdentityToken", std::string(token)},
                      {"DurationSeconds", std::to_string(duration_seconds)}});
}

bool valid_session_name(std::string_view name) {
  if (name.size() < 2 || name.size() > 64) return false;
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("+=,.@_-").find(c) == std::string_view::npos) return false;
  }
  return true;
}

StsAnswer parse_web_identity_answer(int status, std::string_view body) {
  const bool success = status >= 200 && status < 300;
  XmlElement root;
  try {
    root = parse_xml(body);
  } catch (const XmlError&) {
    std::string why = "STS answered HTTP " + std::to_string(status) + " with a body that is not XML";
    if (!success && !body.empty()) why += ": " + excerpt(body);
    return other(status, std::move(why));
  }
  if (root.name == "ErrorResponse" || root.name == "Error") {
    const XmlElement* err = root.name == "Error" ? &root : root.child("Error");
    if (err && !err->child_text("Code").empty()) {
      StsAnswer a;
      a.kind = StsAnswer::Kind::AwsError;
      a.status = status;
      a.code = err->child_text("Code");
      a.message = err->child_text("Message");
      return a;
    }
  }
  if (success && root.name == "AssumeRoleWithWebIdentityResponse") {
    const XmlElement* result = root.child("AssumeRoleWithWebIdentityResult");
    const XmlElement* user = result ? result->child("AssumedRoleUser") : nullptr;
    if (!user || user->child_text("Arn").empty()) {
      return other(status, "STS answered HTTP " + std::to_string(status) +
                               " without an AssumedRoleUser Arn");
    }
    StsAnswer a;
    a.kind = StsAnswer::Kind::Assumed;
    a.status = status;
    a.arn = user->child_text("Arn");
    a.assumed_role_id = user->child_text("AssumedRoleId");
    a.subject = result->child_text("SubjectFromWebIdentityToken");
    if (const XmlElement* creds = result->child("Credentials")) {
      a.expiration = creds->child_text("Expiration");
      Credentials c{creds->child_text("AccessKeyId"), creds->child_text("SecretAccessKey"),
                    creds->child_text("SessionToken")};
      if (!c.access_key_id.empty() && !c.secret_access_key.empty() && !c.session_token.empty()) {
        a.credentials = std::move(c);
      }
    }
    return a;
  }
  std::string why = "STS answered HTTP " + std::to_string(status) + " with <" + root.name + ">";
  if (!success) why += " and no AWS error code";
  return other(status, std::move(why));
}

}  // namespace gtoken::aws
