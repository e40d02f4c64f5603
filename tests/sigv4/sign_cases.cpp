// Signs the requests described on stdin with aws::sign_v4 and prints the
// results, for botocore_equality.py to compare with botocore's SigV4Auth.
//
// stdin: a JSON array of {"method", "host", "path", "query": [[k, v], ...],
// "headers": [[name, value], ...], "body_hex", "access_key", "secret",
// "token", "region", "service", "epoch"}; stdout: a JSON array of
// {"authorization", "amz_date", "security_token", "canonical_request"}.
#include <chrono>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "aws/sigv4.hpp"

namespace aws = gtoken::aws;

namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

}  // namespace

int main() {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  nlohmann::json cases = nlohmann::json::parse(input);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : cases) {
    aws::RequestToSign r;
    r.method = c.at("method").get<std::string>();
    r.host = c.at("host").get<std::string>();
    r.path = c.at("path").get<std::string>();
    for (const auto& kv : c.at("query")) r.query.emplace_back(kv.at(0), kv.at(1));
    for (const auto& kv : c.at("headers")) r.headers.emplace_back(kv.at(0), kv.at(1));
    r.payload = from_hex(c.at("body_hex").get<std::string>());
    aws::Credentials creds{c.at("access_key"), c.at("secret"), c.value("token", "")};
    aws::SigningScope scope{c.at("region"), c.at("service")};
    auto when = std::chrono::system_clock::time_point{} +
                std::chrono::seconds(c.at("epoch").get<long long>());
    aws::SignedRequest s = aws::sign_v4(r, creds, scope, when);
    std::string token;
    for (const auto& [k, v] : s.added_headers) {
      if (k == "X-Amz-Security-Token") token = v;
    }
    out.push_back({{"authorization", s.authorization},
                   {"amz_date", s.amz_date},
                   {"security_token", token},
                   {"canonical_request", s.canonical_request}});
  }
  std::cout << out.dump() << "\n";
  return 0;
}
