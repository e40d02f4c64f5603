// kubeconfig exec credential plugins: the kubeconfig's exec block, the
// ExecCredential a plugin prints, and a real plugin (a shell script) run by
// http_options, again when its token expires or the apiserver says 401.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kube/config.hpp"
#include "kube/exec_credential.hpp"
#include "kube/time.hpp"

namespace {

const kube::ExecConfig kV1{"p", {}, {}, "client.authentication.k8s.io/v1", "kubeconfig k: exec"};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const kube::ConfigError& e) {
    return e.what();
  }
  return "";
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/kube_exec_credential_test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string kubeconfig_with_exec(const std::string& exec) {
  return "current-context: dev\n"
         "clusters:\n- name: c1\n  cluster:\n    server: https://10.1.2.3:6443\n"
         "contexts:\n- name: dev\n  context:\n    cluster: c1\n    user: u1\n"
         "users:\n- name: u1\n  user:\n    exec:\n" +
         exec;
}

}  // namespace

TEST_CASE("an ExecCredential: token, certificate, expiry; refusals never quote it") {
  auto c = kube::parse_exec_credential(
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
          "status":{"token":"s3cret","expirationTimestamp":"2030-01-01T00:00:00Z"}})",
      kV1);
  CHECK(c.token == "s3cret");
  REQUIRE(c.expires);
  CHECK(kube::format_rfc3339(*c.expires) == "2030-01-01T00:00:00Z");
  c = kube::parse_exec_credential(
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
          "status":{"clientCertificateData":"CERT","clientKeyData":"KEY"}})",
      kV1);
  CHECK(c.client_certificate_pem == "CERT");
  CHECK_FALSE(c.expires);

  const std::string wrong_version = message_of([] {
    kube::parse_exec_credential(R"({"apiVersion":"client.authentication.k8s.io/v1beta1",
        "kind":"ExecCredential","status":{"token":"s3cret"}})",
                                kV1);
  });
  CHECK(wrong_version.find("the kubeconfig asks for") != std::string::npos);
  CHECK(wrong_version.find("s3cret") == std::string::npos);
  CHECK(message_of([] {
          kube::parse_exec_credential(R"({"apiVersion":"client.authentication.k8s.io/v1",
              "kind":"ExecCredential","status":{"clientKeyData":"s3cret"}})",
                                      kV1);
        }).find("without the other") != std::string::npos);
  CHECK(message_of([] { kube::parse_exec_credential("s3cret", kV1); }).find("no JSON") !=
        std::string::npos);
  CHECK(message_of([] {
          kube::parse_exec_credential(
              R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"})", kV1);
        }).find("has no status") != std::string::npos);
  CHECK(message_of([] {
          kube::parse_exec_credential(R"({"apiVersion":"client.authentication.k8s.io/v1",
              "kind":"ExecCredential","status":{"token":7}})",
                                      kV1);
        }).find("neither a token nor") != std::string::npos);
  CHECK(
      message_of([] {
        kube::parse_exec_credential(
            R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":[]})",
            kV1);
      }).find("has no status") != std::string::npos);
}

TEST_CASE("the kubeconfig's exec block: command, args, env, a path relative to the file") {
  auto c = kube::parse_kubeconfig(
      kubeconfig_with_exec("      apiVersion: client.authentication.k8s.io/v1beta1\n"
                           "      command: ./bin/auth\n"
                           "      args: [get-token, --x]\n"
                           "      env: [{name: A, value: b}]\n"),
      "/k/cfg");
  REQUIRE(c.exec);
  CHECK(c.exec->command == "/k/./bin/auth");
  CHECK(c.exec->args == std::vector<std::string>{"get-token", "--x"});
  REQUIRE(c.exec->env.size() == 1);
  CHECK(c.exec->env[0] == std::pair<std::string, std::string>{"A", "b"});
  CHECK(c.exec->where == "kubeconfig /k/cfg: users[u1].user.exec");
  // A bare name is looked up in PATH.
  CHECK(kube::parse_kubeconfig(
            kubeconfig_with_exec("      apiVersion: client.authentication.k8s.io/v1\n"
                                 "      command: gke-gcloud-auth-plugin\n"),
            "/k/cfg")
            .exec->command == "gke-gcloud-auth-plugin");
}

TEST_CASE("http_options runs the plugin, and again for an expiring token and after a 401") {
  TempDir d;
  const auto script = d.path / "plugin.sh";
  const auto count = d.path / "count";
  {
    // Each run prints token-N; it sees its env and KUBERNETES_EXEC_INFO.
    std::ofstream f(script);
    f << "#!/bin/sh\n"
         "n=$(($(cat "
      << count.string()
      << " 2>/dev/null || echo 0) + 1))\n"
         "echo $n > "
      << count.string()
      << "\n"
         "case \"$KUBERNETES_EXEC_INFO\" in *'\"interactive\":false'*) ;; *) exit 3;; esac\n"
         "[ \"$FROM_KUBECONFIG\" = yes ] || exit 4\n"
         "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"token\":\"token-%s\",\"expirationTimestamp\":\"%s\"}}' \"$n\" \"$1\"\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  auto config_for = [&](const std::string& expiry) {
    return kube::parse_kubeconfig(
        kubeconfig_with_exec("      apiVersion: client.authentication.k8s.io/v1\n"
                             "      command: " +
                             script.string() +
                             "\n"
                             "      args: ['" +
                             expiry +
                             "']\n"
                             "      env: [{name: FROM_KUBECONFIG, value: 'yes'}]\n"),
        d.path / "kubeconfig");
  };
  // Valid for long: one run, then the same token, until a 401.
  auto o = kube::http_options(config_for("2099-01-01T00:00:00Z"));
  REQUIRE(o.bearer_token);
  CHECK(o.bearer_token() == "token-1");
  CHECK(o.bearer_token() == "token-1");
  REQUIRE(o.on_unauthorized);
  CHECK(o.on_unauthorized());
  CHECK(o.bearer_token() == "token-2");
  // Already expired: every use runs it again.
  auto expired = kube::http_options(config_for("2000-01-01T00:00:00Z"));
  CHECK(expired.bearer_token() == "token-4");
  CHECK(expired.bearer_token() == "token-5");

  // A failing plugin: its exit code and stderr, at once.
  const auto failing = d.path / "fail.sh";
  {
    std::ofstream f(failing);
    f << "#!/bin/sh\necho 'run gcloud auth login' >&2\nexit 1\n";
  }
  std::filesystem::permissions(failing, std::filesystem::perms::owner_all);
  const std::string why = message_of([&] {
    kube::http_options(kube::parse_kubeconfig(
        kubeconfig_with_exec("      apiVersion: client.authentication.k8s.io/v1\n"
                             "      command: " +
                             failing.string() + "\n"),
        d.path / "kubeconfig"));
  });
  CHECK(why.find("exited 1: run gcloud auth login") != std::string::npos);
}
