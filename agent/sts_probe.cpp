#include "agent/sts_probe.hpp"

#include "aws/percent_encoding.hpp"
#include "aws/xml.hpp"

namespace gtoken::agent {

namespace {

using nlohmann::json;

// A short, printable excerpt of a non-AWS error body (a proxy's page).
std::string excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200)) {
    out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  }
  return out;
}

}  // namespace

std::string web_identity_form(std::string_view role_arn, std::string_view session_name,
                              std::string_view token) {
  std::string f = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=";
  f += aws::percent_encode(role_arn);
  f += "&RoleSessionName=";
  f += aws::percent_encode(session_name);
  f += "&WebIdentityToken=";
  f += aws::percent_encode(token);
  f += "&DurationSeconds=" + std::to_string(kStsProbeDurationSeconds);
  return f;
}

bool valid_session_name(std::string_view name) {
  if (name.size() < 2 || name.size() > 64) {
    return false;
  }
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("+=,.@_-").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

json sts_answer(int status, std::string_view body) {
  const bool success = status >= 200 && status < 300;
  aws::XmlElement root;
  try {
    root = aws::parse_xml(body);
  } catch (const aws::XmlError& e) {
    std::string why =
        "STS answered HTTP " + std::to_string(status) + " with a body that is not XML";
    if (!success && !body.empty()) {
      why += ": " + excerpt(body);
    }
    return {{"ok", false}, {"error", why}, {"status", status}};
  }
  if (root.name == "ErrorResponse" || root.name == "Error") {
    const aws::XmlElement* err = root.name == "Error" ? &root : root.child("Error");
    if (err && !err->child_text("Code").empty()) {
      return {{"ok", false},
              {"code", err->child_text("Code")},
              {"message", err->child_text("Message")},
              {"status", status}};
    }
  }
  if (success && root.name == "AssumeRoleWithWebIdentityResponse") {
    const aws::XmlElement* result = root.child("AssumeRoleWithWebIdentityResult");
    const aws::XmlElement* user = result ? result->child("AssumedRoleUser") : nullptr;
    const aws::XmlElement* creds = result ? result->child("Credentials") : nullptr;
    if (user && !user->child_text("Arn").empty()) {
      json out = {{"ok", true},
                  {"arn", user->child_text("Arn")},
                  {"assumedRoleId", user->child_text("AssumedRoleId")},
                  {"expiration", creds ? creds->child_text("Expiration") : ""}};
      if (const std::string sub = result->child_text("SubjectFromWebIdentityToken"); !sub.empty()) {
        out["subject"] = sub;
      }
      return out;
    }
    return {{"ok", false},
            {"error",
             "STS answered HTTP " + std::to_string(status) + " without an AssumedRoleUser Arn"},
            {"status", status}};
  }
  std::string why = "STS answered HTTP " + std::to_string(status) + " with <" + root.name + ">";
  if (!success) {
    why += " and no AWS error code";
  }
  return {{"ok", false}, {"error", why}, {"status", status}};
}

}  // namespace gtoken::agent
