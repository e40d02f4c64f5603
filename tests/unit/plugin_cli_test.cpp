#include <doctest/doctest.h>

#include "plugin/cli.hpp"
#include "plugin/render.hpp"

using namespace gtoken::plugin;

namespace {

CliOptions ok(const std::vector<std::string>& args) {
  auto p = parse_cli(args);
  INFO(p.error);
  REQUIRE(p.options);
  return *p.options;
}

std::string error_of(const std::vector<std::string>& args) {
  auto p = parse_cli(args);
  CHECK_FALSE(p.options);
  return p.error;
}

}  // namespace

TEST_CASE("commands and their names") {
  auto o = ok({"doctor", "pod", "app-1", "-n", "jobs"});
  CHECK(o.command == Command::DoctorPod);
  CHECK(o.name == "app-1");
  CHECK(o.namespace_ == "jobs");
  CHECK(o.exec);
  CHECK(ok({"doctor", "binding", "uploader", "--namespace=jobs"}).command ==
        Command::DoctorBinding);
  CHECK(ok({"status"}).command == Command::Status);
  CHECK(ok({"status"}).webhook_config_name == "gtoken-webhook");
  CHECK(ok({"status", "--webhook-config-name", "w"}).webhook_config_name == "w");
  CHECK(error_of({"doctor", "pod", "p", "--webhook-config-name=w"}).find("for status") !=
        std::string::npos);
  CHECK(ok({}).command == Command::Help);
  CHECK(ok({"doctor", "pod", "x", "--help"}).command == Command::Help);
  auto t = ok({"trust-policy", "uploader"});
  CHECK(t.command == Command::TrustPolicy);
  CHECK(t.output == "json");
  CHECK(ok({"trust-policy", "uploader", "-o", "yaml"}).output == "yaml");
}

TEST_CASE("kubeconfig, context and the in-pod flags") {
  auto o = ok({"--kubeconfig", "/k", "--context=c", "doctor", "pod", "p", "--no-exec",
               "--trust-policy", "t.json", "--kubectl", "/bin/kc", "-o", "json"});
  CHECK(o.kubeconfig == "/k");
  CHECK(o.context == "c");
  CHECK_FALSE(o.exec);
  CHECK(o.trust_policy_file == "t.json");
  CHECK(o.kubectl == "/bin/kc");
  CHECK(o.output == "json");
}

TEST_CASE("doctor pod --sts, with or without an endpoint") {
  CHECK_FALSE(ok({"doctor", "pod", "p"}).sts);
  auto o = ok({"doctor", "pod", "p", "--sts"});
  CHECK(o.sts);
  CHECK(o.sts_endpoint.empty());
  CHECK(ok({"doctor", "pod", "p", "--sts", "--sts-endpoint=http://127.0.0.1:9"}).sts_endpoint ==
        "http://127.0.0.1:9");
  CHECK(error_of({"doctor", "pod", "p", "--sts", "--no-exec"}).find("--no-exec") !=
        std::string::npos);
  CHECK(error_of({"doctor", "pod", "p", "--sts-endpoint=http://x"}).find("needs --sts") !=
        std::string::npos);
  CHECK(error_of({"doctor", "pod", "p", "--sts", "--sts-endpoint=ftp://x"}).find("https://") !=
        std::string::npos);
  CHECK(error_of({"status", "--sts"}).find("doctor pod") != std::string::npos);
  CHECK(error_of({"doctor", "pod", "p", "--sts=yes"}).find("unknown flag") != std::string::npos);
}

TEST_CASE("bad command lines say what is wrong") {
  CHECK(error_of({"doctor"}).find("pod NAME") != std::string::npos);
  CHECK(error_of({"doctor", "pod"}).find("exactly one NAME") != std::string::npos);
  CHECK(error_of({"doctor", "pod", "a", "b"}).find("exactly one NAME") != std::string::npos);
  CHECK(error_of({"frobnicate"}).find("unknown command") != std::string::npos);
  CHECK(error_of({"status", "-o", "yaml"}).find("text or json") != std::string::npos);
  CHECK(error_of({"status", "--bogus"}).find("unknown flag --bogus") != std::string::npos);
  CHECK(error_of({"status", "-n"}).find("needs a value") != std::string::npos);
  CHECK(error_of({"doctor", "binding", "b", "--trust-policy", "f"}).find("doctor pod") !=
        std::string::npos);
  CHECK(error_of({"status", "--request-timeout", "soon"}).find("duration") != std::string::npos);
}

TEST_CASE("text output: one line per link, the fix under a broken one, colour only when asked") {
  Report r{"pod jobs/app",
           {{"namespace", "namespace jobs not ignored", LinkState::Pass, "fine", ""},
            {"injected", "pod injected", LinkState::Fail, "not injected", "restart it"}}};
  const std::string plain = render_text(r, false);
  CHECK(plain ==
        "pod jobs/app\n\u2713 namespace jobs not ignored: fine\n"
        "\u2717 pod injected: not injected\n    fix: restart it\n");
  CHECK(plain.find('\x1b') == std::string::npos);
  CHECK(render_text(r, true).find("\x1b[31m") != std::string::npos);
  auto j = render_json(r);
  CHECK(j["ok"] == false);
  CHECK(j["links"][1]["state"] == "fail");
  CHECK(j["links"][1]["fix"] == "restart it");
  CHECK_FALSE(j["links"][0].contains("fix"));
  r.links[1].state = LinkState::NotApplicable;
  CHECK(all_hold(r));
  CHECK_FALSE(all_hold(Report{"empty", {}}));
}
