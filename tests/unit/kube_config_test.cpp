// kubeconfig and in-cluster parsing: good files, and broken ones whose
// error names the file and the field.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <vector>

#include "kube/base64.hpp"
#include "kube/config.hpp"

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/gtoken-cfg-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
};

const char* kCa = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";

std::string kubeconfig(const std::string& cluster_extra, const std::string& user_extra,
                       const std::string& current = "dev") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current +
         "\n"
         "clusters:\n- name: c1\n  cluster:\n    server: https://10.1.2.3:6443\n" +
         cluster_extra +
         "contexts:\n"
         "- name: dev\n  context:\n    cluster: c1\n    user: u1\n    namespace: jobs\n"
         "- name: other\n  context:\n    cluster: c1\n    user: u1\n"
         "users:\n- name: u1\n  user:\n" +
         user_extra;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const kube::ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("kubeconfig: embedded data, current context, namespace, token") {
  std::string text =
      kubeconfig("    certificate-authority-data: " + kube::base64_encode(kCa) + "\n",
                 "    token: abc.def\n");
  auto c = kube::parse_kubeconfig(text, "/x/config");
  CHECK(c.server == "https://10.1.2.3:6443");
  CHECK(c.namespace_ == "jobs");
  CHECK(c.tls.ca_pem == kCa);
  CHECK(c.token == "abc.def");
  CHECK(c.source.find("context dev") != std::string::npos);

  auto other = kube::parse_kubeconfig(text, "/x/config", "other");
  CHECK(other.namespace_ == "default");
}

TEST_CASE("kubeconfig: files are resolved relative to the kubeconfig") {
  TempDir d;
  d.write("ca.crt", kCa);
  d.write("client.crt", "CERT");
  d.write("client.key", "KEY");
  auto path = d.write("config", kubeconfig("    certificate-authority: ca.crt\n",
                                           "    client-certificate: client.crt\n"
                                           "    client-key: " +
                                               (d.path / "client.key").string() + "\n"));
  auto c = kube::load_kubeconfig(path);
  CHECK(c.tls.ca_pem == kCa);
  CHECK(c.tls.client_cert_pem == "CERT");
  CHECK(c.tls.client_key_pem == "KEY");
}

TEST_CASE("kubeconfig: broken files name the file and the field") {
  CHECK(message_of([] { kube::parse_kubeconfig("a: [", "/k/cfg"); })
            .find("/k/cfg: not valid YAML") != std::string::npos);
  CHECK(message_of([] { kube::parse_kubeconfig("- 1\n", "/k/cfg"); }).find("not a YAML map") !=
        std::string::npos);
  CHECK(message_of([] { kube::parse_kubeconfig(kubeconfig("", "", "missing"), "/k/cfg"); })
            .find("contexts: no entry named \"missing\"") != std::string::npos);
  CHECK(message_of([] {
          kube::parse_kubeconfig(kubeconfig("    certificate-authority-data: '***'\n", ""),
                                 "/k/cfg");
        }).find("clusters[c1].cluster.certificate-authority-data: is not valid base64") !=
        std::string::npos);
  CHECK(message_of([] {
          kube::parse_kubeconfig(kubeconfig("    certificate-authority: /nonexistent/ca\n", ""),
                                 "/k/cfg");
        }).find("cannot read file /nonexistent/ca") != std::string::npos);
  CHECK(message_of([] {
          kube::parse_kubeconfig(kubeconfig("", "    client-certificate-data: Q0VSVA==\n"),
                                 "/k/cfg");
        }).find("client-certificate and client-key must be given together") !=
        std::string::npos);
  CHECK(message_of([] {
          kube::parse_kubeconfig(kubeconfig("", "    auth-provider:\n      name: gcp\n"), "/k/cfg");
        }).find("auth-provider plugins are not supported") != std::string::npos);
  CHECK(message_of([] {
          kube::parse_kubeconfig(kubeconfig("", "    exec:\n      command: gke-auth\n"), "/k/cfg");
        }).find("users[u1].user.exec.apiVersion: must be client.authentication.k8s.io/v1") !=
        std::string::npos);
  CHECK(message_of([] {
          kube::parse_kubeconfig(
              kubeconfig("", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"),
              "/k/cfg");
        }).find("users[u1].user.exec.command: is missing") != std::string::npos);
  std::string no_server =
      "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
      "clusters:\n- name: c\n  cluster: {}\n";
  CHECK(message_of([&] { kube::parse_kubeconfig(no_server, "/k/cfg"); })
            .find("clusters[c].cluster.server: is missing") != std::string::npos);
  std::string bad_scheme =
      "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
      "clusters:\n- name: c\n  cluster: {server: 'ftp://x'}\n";
  CHECK(message_of([&] { kube::parse_kubeconfig(bad_scheme, "/k/cfg"); })
            .find("must be an http:// or https:// URL") != std::string::npos);
  CHECK(message_of([] { kube::load_kubeconfig("/nonexistent/kubeconfig"); })
            .find("/nonexistent/kubeconfig: cannot read file") != std::string::npos);
}

TEST_CASE("in-cluster config: env, token file re-read on rotation, CA, namespace") {
  TempDir d;
  d.write("token", "first-token\n");
  d.write("ca.crt", kCa);
  d.write("namespace", "gtoken-system\n");
  auto env = [](const char* k) -> const char* {
    std::string key = k;
    if (key == "KUBERNETES_SERVICE_HOST") return "10.0.0.1";
    if (key == "KUBERNETES_SERVICE_PORT") return "443";
    return nullptr;
  };
  auto c = kube::load_in_cluster({d.path}, env);
  CHECK(c.server == "https://10.0.0.1:443");
  CHECK(c.namespace_ == "gtoken-system");
  CHECK(c.tls.ca_pem == kCa);
  auto opts = kube::http_options(c);
  REQUIRE(opts.bearer_token);
  CHECK(opts.bearer_token() == "first-token");

  auto v6 = [](const char* k) -> const char* {
    std::string key = k;
    if (key == "KUBERNETES_SERVICE_HOST") return "fd00::1";
    if (key == "KUBERNETES_SERVICE_PORT") return "443";
    return nullptr;
  };
  CHECK(kube::load_in_cluster({d.path}, v6).server == "https://[fd00::1]:443");

  auto none = [](const char*) -> const char* { return nullptr; };
  CHECK(message_of([&] { kube::load_in_cluster({d.path}, none); })
            .find("KUBERNETES_SERVICE_HOST") != std::string::npos);
  TempDir empty;
  CHECK(message_of([&] { kube::load_in_cluster({empty.path}, env); })
            .find("cannot read token file") != std::string::npos);
}

TEST_CASE("base64 round trips and rejects garbage") {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    CHECK(kube::base64_decode(kube::base64_encode(s)) == s);
    CHECK(kube::base64_decode(kube::base64url_encode(s)) == s);
  }
  CHECK(kube::base64_encode("hello") == "aGVsbG8=");
  CHECK(kube::base64_decode("aGVs\nbG8=") == std::string("hello"));
  CHECK_FALSE(kube::base64_decode("a*b").has_value());
  CHECK_FALSE(kube::base64_decode("a").has_value());
}
