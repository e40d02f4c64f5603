// gtoken's IAM calls as the controller will make them, for
// test_iam_standin.py to send to the IAM stand-in: the request form
// (aws/iam), form-encoded, signed now (aws/sigv4); and the answer read back.
//
//   aws_iam_tool request ACTION ARG... < credentials.json
//       ACTION: GetRole NAME | UpdateAssumeRolePolicy NAME DOCUMENT_FILE |
//       CreateOpenIDConnectProvider URL CLIENT_ID... | GetOpenIDConnectProvider ARN |
//       ListOpenIDConnectProviders | AddClientIDToOpenIDConnectProvider ARN CLIENT_ID
//       stdin: {"host", "access_key", "secret", "token", "region"}
//       stdout: {"body", "headers": [[name, value], ...]}; exit 4 when aws/iam
//       refuses the input (nothing is signed)
//   aws_iam_tool parse ACTION < answer   (ACTION, or Error for an ErrorResponse)
//       stdout: the answer as JSON, or {"invalid": WHAT} (exit 3)
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "aws/iam.hpp"
#include "aws/sigv4.hpp"

namespace aws = gtoken::aws;

namespace {

std::string read_all(std::istream& in) {
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

aws::QueryParams form_of(const std::vector<std::string>& a) {
  const std::string& action = a.at(0);
  if (action == "GetRole") return aws::iam_get_role(a.at(1));
  if (action == "UpdateAssumeRolePolicy") {
    std::ifstream f(a.at(2), std::ios::binary);
    return aws::iam_update_assume_role_policy(a.at(1), read_all(f));
  }
  if (action == "CreateOpenIDConnectProvider") {
    return aws::iam_create_oidc_provider(a.at(1), {a.begin() + 2, a.end()}, {});
  }
  if (action == "GetOpenIDConnectProvider") return aws::iam_get_oidc_provider(a.at(1));
  if (action == "ListOpenIDConnectProviders") return aws::iam_list_oidc_providers();
  if (action == "AddClientIDToOpenIDConnectProvider") {
    return aws::iam_add_client_id_to_oidc_provider(a.at(1), a.at(2));
  }
  throw std::invalid_argument("unknown action " + action);
}

int request(const std::vector<std::string>& args) {
  const aws::QueryParams form = form_of(args);  // refuses what IAM would, before anything else
  nlohmann::json c = nlohmann::json::parse(read_all(std::cin));
  aws::RequestToSign r;
  r.method = "POST";
  r.host = c.at("host");
  r.path = "/";
  r.headers = {{"Content-Type", std::string(aws::kIamContentType)}};
  r.payload = aws::form_encode(form);
  aws::Credentials creds{c.at("access_key"), c.at("secret"), c.value("token", "")};
  aws::SignedRequest s = aws::sign_v4(r, creds, {c.at("region"), std::string(aws::kIamService)},
                                      std::chrono::system_clock::now());
  aws::Headers headers = r.headers;
  headers.insert(headers.end(), s.added_headers.begin(), s.added_headers.end());
  std::cout << nlohmann::json{{"body", r.payload}, {"headers", headers}}.dump() << "\n";
  return 0;
}

int parse(const std::string& action) {
  const std::string body = read_all(std::cin);
  nlohmann::json out;
  try {
    if (action == "Error") {
      auto e = aws::parse_error_response(body);
      if (!e) {
        std::cout << nlohmann::json{{"invalid", "not an ErrorResponse"}}.dump() << "\n";
        return 3;
      }
      out = {{"type", e->type},
             {"code", e->code},
             {"message", e->message},
             {"request_id", e->request_id}};
    } else if (action == "GetRole") {
      aws::IamRole r = aws::parse_get_role(body);
      out = {{"name", r.name},
             {"id", r.id},
             {"arn", r.arn},
             {"path", r.path},
             {"create_date", r.create_date},
             {"trust_policy", r.trust_policy}};
    } else if (action == "GetOpenIDConnectProvider") {
      aws::IamOidcProvider p = aws::parse_get_oidc_provider(body);
      out = {{"url", p.url},
             {"client_ids", p.client_ids},
             {"thumbprints", p.thumbprints},
             {"create_date", p.create_date}};
    } else if (action == "ListOpenIDConnectProviders") {
      out = {{"arns", aws::parse_list_oidc_providers(body)}};
    } else if (action == "CreateOpenIDConnectProvider") {
      out = {{"arn", aws::parse_create_oidc_provider(body)}};
    } else {
      throw std::invalid_argument("nothing to parse for " + action);
    }
  } catch (const aws::IamAnswerError& e) {
    std::cout << nlohmann::json{{"invalid", e.what()}}.dump() << "\n";
    return 3;
  }
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() >= 2 && args[0] == "request") return request({args.begin() + 1, args.end()});
    if (args.size() == 2 && args[0] == "parse") return parse(args[1]);
  } catch (const aws::IamInputError& e) {
    std::cerr << "aws_iam_tool: refused: " << e.what() << "\n";
    return 4;
  } catch (const std::exception& e) {
    std::cerr << "aws_iam_tool: " << e.what() << "\n";
    return 2;
  }
  std::cerr << "usage: aws_iam_tool request ACTION ARG... | parse ACTION\n";
  return 2;
}
