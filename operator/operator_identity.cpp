#include "operator/operator_identity.hpp"

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "kube/http.hpp"
#include "operator/google.hpp"

namespace gtoken {

std::string discover_operator_gsa() {
  if (const char* key = std::getenv("GOOGLE_APPLICATION_CREDENTIALS"); key && *key) {
    std::ifstream in(key);
    if (!in) throw std::runtime_error(std::string("cannot read ") + key);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    // Only the email is read here; the key itself stays with the token source.
    if (!j.is_object() || !j.contains("client_email") || !j["client_email"].is_string()) {
      throw std::runtime_error(std::string(key) + " has no client_email");
    }
    return j["client_email"].get<std::string>();
  }
  kube::HttpOptions o;
  o.base_url = metadata_base_url();
  o.connect_timeout = std::chrono::seconds(5);
  o.request_timeout = std::chrono::seconds(10);
  o.user_agent = "gtoken-operator/0.1";
  kube::HttpClient http(o);
  kube::HttpRequest req;
  req.target = "/computeMetadata/v1/instance/service-accounts/default/email";
  req.headers = {{"Metadata-Flavor", "Google"}};
  const auto res = http.request(req);
  if (res.status != 200) throw google_error_from(res.status, res.body, "metadata email");
  std::string email = res.body;
  while (!email.empty() && (email.back() == '\n' || email.back() == ' ')) email.pop_back();
  return email;
}

}  // namespace gtoken
