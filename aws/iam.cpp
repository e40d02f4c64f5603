#include "aws/iam.hpp"

#include "aws/partition.hpp"
#include "aws/xml.hpp"

namespace gtoken::aws {

namespace {

bool word_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

void check_length(std::string_view what, std::string_view v, size_t lo, size_t hi) {
  if (v.size() < lo || v.size() > hi) {
    throw IamInputError(std::string(what) + " must be " + std::to_string(lo) + " to " +
                        std::to_string(hi) + " characters");
  }
}

// arn:PARTITION:iam::ACCOUNT:oidc-provider/HOST[/PATH]
void check_provider_arn(std::string_view arn) {
  check_length("OpenIDConnectProviderArn", arn, 20, 2048);
  auto partition = arn_partition(arn);
  std::string prefix = "arn:" + std::string(partition.value_or("")) + ":iam::";
  if (!partition || arn.substr(0, prefix.size()) != prefix) {
    throw IamInputError("not an IAM OIDC provider ARN");
  }
  std::string_view rest = arn.substr(prefix.size());
  constexpr std::string_view kKind = ":oidc-provider/";
  if (rest.size() < 12 + kKind.size() + 1 || rest.substr(12, kKind.size()) != kKind) {
    throw IamInputError("not an IAM OIDC provider ARN");
  }
  for (size_t i = 0; i < 12; ++i) {
    if (rest[i] < '0' || rest[i] > '9') throw IamInputError("not an IAM OIDC provider ARN");
  }
  for (unsigned char c : arn) {
    if (c <= ' ' || c >= 0x7F) throw IamInputError("not an IAM OIDC provider ARN");
  }
}

QueryParams action(std::string_view name) {
  return {{"Action", std::string(name)}, {"Version", std::string(kIamVersion)}};
}

XmlElement parse_answer(std::string_view body, std::string_view action_name) {
  XmlElement root;
  try {
    root = parse_xml(body);
  } catch (const XmlError& e) {
    throw IamAnswerError(std::string(action_name) + ": " + e.what());
  }
  if (root.name != std::string(action_name) + "Response") {
    throw IamAnswerError(std::string(action_name) + ": unexpected answer <" + root.name + ">");
  }
  const XmlElement* result = root.child(std::string(action_name) + "Result");
  if (!result)
    throw IamAnswerError(std::string(action_name) + ": no " + std::string(action_name) + "Result");
  return *result;
}

std::vector<std::string> members(const XmlElement* list) {
  std::vector<std::string> out;
  if (!list) return out;
  for (const XmlElement* m : list->children_named("member")) out.push_back(m->text);
  return out;
}

}  // namespace

bool valid_role_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name) {
    if (!(word_char(c) || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-')) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> role_name_of_arn(std::string_view arn) {
  auto partition = arn_partition(arn);
  if (!partition) return std::nullopt;
  std::string prefix = "arn:" + std::string(*partition) + ":iam::";
  if (arn.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = arn.substr(prefix.size());
  constexpr std::string_view kKind = ":role/";
  if (rest.size() < 12 + kKind.size() || rest.substr(12, kKind.size()) != kKind) {
    return std::nullopt;
  }
  for (size_t i = 0; i < 12; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return std::nullopt;
  }
  std::string_view path_and_name = rest.substr(12 + kKind.size());
  size_t slash = path_and_name.rfind('/');
  std::string_view name =
      slash == std::string_view::npos ? path_and_name : path_and_name.substr(slash + 1);
  if (!valid_role_name(name)) return std::nullopt;
  return std::string(name);
}

QueryParams iam_get_role(std::string_view role_name) {
  if (!valid_role_name(role_name)) throw IamInputError("invalid role name");
  QueryParams p = action("GetRole");
  p.emplace_back("RoleName", role_name);
  return p;
}

QueryParams iam_update_assume_role_policy(std::string_view role_name,
                                          std::string_view policy_document) {
  if (!valid_role_name(role_name)) throw IamInputError("invalid role name");
  check_length("PolicyDocument", policy_document, 1, 131072);
  QueryParams p = action("UpdateAssumeRolePolicy");
  p.emplace_back("RoleName", role_name);
  p.emplace_back("PolicyDocument", policy_document);
  return p;
}

QueryParams iam_create_oidc_provider(std::string_view url,
                                     const std::vector<std::string>& client_ids,
                                     const std::vector<std::string>& thumbprints) {
  check_length("Url", url, 1, 255);
  if (url.substr(0, 8) != "https://") throw IamInputError("Url must begin with https://");
  QueryParams p = action("CreateOpenIDConnectProvider");
  p.emplace_back("Url", url);
  for (size_t i = 0; i < client_ids.size(); ++i) {
    check_length("ClientID", client_ids[i], 1, 255);
    p.emplace_back("ClientIDList.member." + std::to_string(i + 1), client_ids[i]);
  }
  for (size_t i = 0; i < thumbprints.size(); ++i) {
    check_length("Thumbprint", thumbprints[i], 40, 40);
    p.emplace_back("ThumbprintList.member." + std::to_string(i + 1), thumbprints[i]);
  }
  return p;
}

QueryParams iam_get_oidc_provider(std::string_view provider_arn) {
  check_provider_arn(provider_arn);
  QueryParams p = action("GetOpenIDConnectProvider");
  p.emplace_back("OpenIDConnectProviderArn", provider_arn);
  return p;
}

QueryParams iam_list_oidc_providers() {
  return action("ListOpenIDConnectProviders");
}

QueryParams iam_add_client_id_to_oidc_provider(std::string_view provider_arn,
                                               std::string_view client_id) {
  check_provider_arn(provider_arn);
  check_length("ClientID", client_id, 1, 255);
  QueryParams p = action("AddClientIDToOpenIDConnectProvider");
  p.emplace_back("OpenIDConnectProviderArn", provider_arn);
  p.emplace_back("ClientID", client_id);
  return p;
}

IamRole parse_get_role(std::string_view body) {
  XmlElement result = parse_answer(body, "GetRole");
  const XmlElement* role = result.child("Role");
  if (!role) throw IamAnswerError("GetRole: no Role");
  IamRole out;
  out.name = role->child_text("RoleName");
  out.id = role->child_text("RoleId");
  out.arn = role->child_text("Arn");
  out.path = role->child_text("Path");
  out.create_date = role->child_text("CreateDate");
  if (out.name.empty() || out.arn.empty()) throw IamAnswerError("GetRole: no RoleName or Arn");
  auto policy = percent_decode(role->child_text("AssumeRolePolicyDocument"));
  if (!policy) throw IamAnswerError("GetRole: AssumeRolePolicyDocument is not URL-encoded");
  out.trust_policy = std::move(*policy);
  return out;
}

IamOidcProvider parse_get_oidc_provider(std::string_view body) {
  XmlElement result = parse_answer(body, "GetOpenIDConnectProvider");
  IamOidcProvider out;
  out.url = result.child_text("Url");
  if (out.url.empty()) throw IamAnswerError("GetOpenIDConnectProvider: no Url");
  out.client_ids = members(result.child("ClientIDList"));
  out.thumbprints = members(result.child("ThumbprintList"));
  out.create_date = result.child_text("CreateDate");
  return out;
}

std::vector<std::string> parse_list_oidc_providers(std::string_view body) {
  XmlElement result = parse_answer(body, "ListOpenIDConnectProviders");
  std::vector<std::string> out;
  if (const XmlElement* list = result.child("OpenIDConnectProviderList")) {
    for (const XmlElement* m : list->children_named("member")) {
      std::string arn = m->child_text("Arn");
      if (arn.empty()) throw IamAnswerError("ListOpenIDConnectProviders: a member without Arn");
      out.push_back(std::move(arn));
    }
  }
  return out;
}

std::string parse_create_oidc_provider(std::string_view body) {
  XmlElement result = parse_answer(body, "CreateOpenIDConnectProvider");
  std::string arn = result.child_text("OpenIDConnectProviderArn");
  if (arn.empty()) throw IamAnswerError("CreateOpenIDConnectProvider: no OpenIDConnectProviderArn");
  return arn;
}

std::optional<IamError> parse_error_response(std::string_view body) {
  XmlElement root;
  try {
    root = parse_xml(body);
  } catch (const XmlError&) {
    return std::nullopt;
  }
  if (root.name != "ErrorResponse") return std::nullopt;
  const XmlElement* error = root.child("Error");
  if (!error || error->child_text("Code").empty()) return std::nullopt;
  return IamError{error->child_text("Type"), error->child_text("Code"),
                  error->child_text("Message"), root.child_text("RequestId")};
}

}  // namespace gtoken::aws
