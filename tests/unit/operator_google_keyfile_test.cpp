// KeyFileTokenSource re-reads GOOGLE_APPLICATION_CREDENTIALS when the file
// changes (mtime + size, checked before minting a token), and keeps the old
// key when the new file does not parse.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "kube/base64.hpp"
#include "operator/google.hpp"
#include "tests/unit/kube_loopback.hpp"
#include "tests/unit/kube_tls_test_certs.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string key_json(const std::string& email, const std::string& token_uri) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  std::string pem = testtls::private_key_pem(key);
  EVP_PKEY_free(key);
  return json{{"type", "service_account"},
              {"client_email", email},
              {"private_key", pem},
              {"private_key_id", "k1"},
              {"token_uri", token_uri}}
      .dump();
}

// The iss claim of the JWT assertion in a token request body.
std::string issuer_of(const std::string& body) {
  auto at = body.find("assertion=");
  REQUIRE(at != std::string::npos);
  std::string jwt = body.substr(at + 10);
  auto a = jwt.find('.');
  auto b = jwt.find('.', a + 1);
  std::string payload = jwt.substr(a + 1, b - a - 1);
  for (auto& c : payload) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (payload.size() % 4) payload += '=';
  auto decoded = kube::base64_decode(payload);
  REQUIRE(decoded);
  return json::parse(*decoded).value("iss", "");
}

}  // namespace

TEST_CASE("the key file is re-read when it changes") {
  loopback::Server server([](const loopback::Request&, size_t i) {
    std::string body =
        json{{"access_token", "at-" + std::to_string(i)}, {"expires_in", 3600}}.dump();
    loopback::Answer a;
    a.bytes = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body;
    return a;
  });
  char tmpl[] = "/tmp/gtoken-key-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  fs::path file = dir / "key.json";
  std::string uri = server.url() + "/token";
  std::ofstream(file, std::ios::trunc) << key_json("a@p.iam.gserviceaccount.com", uri);

  gtoken::KeyFileTokenSource source(file.string());
  CHECK(source.client_email() == "a@p.iam.gserviceaccount.com");
  CHECK(source.token() == "at-0");
  CHECK(issuer_of(server.requests().at(0).body) == "a@p.iam.gserviceaccount.com");

  std::ofstream(file, std::ios::trunc) << key_json("b@p.iam.gserviceaccount.com", uri);
  source.invalidate();
  CHECK(source.token() == "at-1");
  CHECK(source.client_email() == "b@p.iam.gserviceaccount.com");
  CHECK(issuer_of(server.requests().at(1).body) == "b@p.iam.gserviceaccount.com");

  std::ofstream(file, std::ios::trunc) << "{\"type\": \"service_acc";  // half-written
  source.invalidate();
  CHECK(source.token() == "at-2");  // the previous key still signs
  CHECK(issuer_of(server.requests().at(2).body) == "b@p.iam.gserviceaccount.com");
  fs::remove_all(dir);
}
