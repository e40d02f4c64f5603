// Which AWS credentials the operator uses: auto's order over the
// environment and flags, and what each explicit mode needs.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "operator/aws_credentials.hpp"

using gtoken::AwsCredentialsMode;
using gtoken::AwsOptions;

namespace {

gtoken::aws::Getenv env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_CASE("auto: web identity, then environment, then gke, then the shared file, else none") {
  const auto dir = std::filesystem::temp_directory_path() / "gtoken-aws-credentials-test";
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "credentials").string();
  std::filesystem::remove(file);
  AwsOptions o;
  const std::map<std::string, std::string> home = {{"HOME", dir.string()}, {"AWS_SHARED_CREDENTIALS_FILE", file}};
  CHECK(resolve_aws_credentials_mode(o, env_of(home)) == AwsCredentialsMode::None);
  { std::ofstream(file) << "[default]\naws_access_key_id=A\naws_secret_access_key=S\n"; }
  CHECK(resolve_aws_credentials_mode(o, env_of(home)) == AwsCredentialsMode::SharedFile);
  o.role_arn = "arn:aws:iam::123456789012:role/gtoken-admin";
  CHECK(resolve_aws_credentials_mode(o, env_of(home)) == AwsCredentialsMode::Gke);
  auto with_keys = home;
  with_keys["AWS_ACCESS_KEY_ID"] = "AKID";
  CHECK(resolve_aws_credentials_mode(o, env_of(with_keys)) == AwsCredentialsMode::Environment);
  with_keys["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/var/run/token";
  CHECK(resolve_aws_credentials_mode(o, env_of(with_keys)) == AwsCredentialsMode::WebIdentity);
  o.credentials = AwsCredentialsMode::None;
  CHECK(resolve_aws_credentials_mode(o, env_of(with_keys)) == AwsCredentialsMode::None);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the chosen source: none gives no source, and nothing is fetched up front") {
  auto clock = std::make_shared<kube::FakeClock>();
  AwsOptions o;
  o.credentials = AwsCredentialsMode::None;
  CHECK_FALSE(gtoken::operator_aws_credentials(o, env_of({}), clock).source);

  o.credentials = AwsCredentialsMode::Environment;
  auto env = gtoken::operator_aws_credentials(
      o, env_of({{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "S"}}), clock);
  REQUIRE(env.source);
  CHECK(env.source->get().access_key_id == "AKIDENV");

  o.credentials = AwsCredentialsMode::WebIdentity;
  CHECK_THROWS_AS(gtoken::operator_aws_credentials(o, env_of({}), clock), std::invalid_argument);
  o.role_arn = "arn:aws:iam::123456789012:role/gtoken-admin";
  o.credentials = AwsCredentialsMode::Gke;
  o.sts_endpoint = "http://127.0.0.1:1";  // never called here
  auto gke = gtoken::operator_aws_credentials(o, env_of({}), clock);
  CHECK(gke.source);
  CHECK(gke.description.find("gtoken-admin") != std::string::npos);
}
