#include "kube/exec_credential.hpp"

#include <nlohmann/json.hpp>

#include "kube/config.hpp"
#include "kube/subprocess.hpp"
#include "kube/time.hpp"

namespace kube {

namespace {

// A string field, "" when absent or of another type.
std::string string_field(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

bool known_api_version(const std::string& v) {
  return v == "client.authentication.k8s.io/v1" || v == "client.authentication.k8s.io/v1beta1";
}

}  // namespace

ExecCredential parse_exec_credential(std::string_view text, const ExecConfig& c) {
  auto fail = [&](const std::string& what) -> ExecCredential {
    throw ConfigError(c.where + ": " + what);
  };
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return fail("the plugin printed no JSON object");
  }
  if (string_field(j, "kind") != "ExecCredential") {
    return fail("the plugin printed no ExecCredential");
  }
  if (string_field(j, "apiVersion") != c.api_version) {
    return fail("the plugin answered apiVersion \"" + string_field(j, "apiVersion") +
                "\", the kubeconfig asks for \"" + c.api_version + "\"");
  }
  const auto it = j.find("status");
  if (it == j.end() || !it->is_object()) {
    return fail("the ExecCredential has no status");
  }
  const nlohmann::json& status = *it;
  ExecCredential out;
  out.token = string_field(status, "token");
  out.client_certificate_pem = string_field(status, "clientCertificateData");
  out.client_key_pem = string_field(status, "clientKeyData");
  if (out.client_certificate_pem.empty() != out.client_key_pem.empty()) {
    return fail("the ExecCredential has a client certificate or key without the other");
  }
  if (out.token.empty() && out.client_certificate_pem.empty()) {
    return fail("the ExecCredential has neither a token nor a client certificate");
  }
  if (const std::string exp = string_field(status, "expirationTimestamp"); !exp.empty()) {
    out.expires = parse_rfc3339(exp);
    if (!out.expires) {
      return fail("expirationTimestamp is not an RFC 3339 time");
    }
  }
  return out;
}

ExecCredential run_exec_credential(const ExecConfig& c, std::chrono::milliseconds timeout) {
  if (!known_api_version(c.api_version)) {
    throw ConfigError(c.where + ".apiVersion: \"" + c.api_version +
                      "\" is not client.authentication.k8s.io/v1 or v1beta1");
  }
  std::vector<std::string> argv = {c.command};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  auto env = c.env;
  const nlohmann::json info = {{"apiVersion", c.api_version},
                               {"kind", "ExecCredential"},
                               {"spec", {{"interactive", false}}}};
  env.emplace_back("KUBERNETES_EXEC_INFO", info.dump());
  Captured r = run_captured(argv, timeout, env);
  if (!r.ran) {
    throw ConfigError(c.where + ": " + r.error);
  }
  if (r.exit_code != 0) {
    std::string err = r.err.substr(0, 500);
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) {
      err.pop_back();
    }
    throw ConfigError(c.where + ": " + c.command + " exited " + std::to_string(r.exit_code) +
                      (err.empty() ? "" : ": " + err));
  }
  return parse_exec_credential(r.out, c);
}

}  // namespace kube
