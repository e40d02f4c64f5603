// aws/iam and aws/partition: IAM's query-API requests as gtoken sends them
// and the answers it reads, in the shapes IAM (and the stand-in,
// tests/standins/iam.py) write.
#include <doctest/doctest.h>

#include <string>

#include "aws/iam.hpp"
#include "aws/partition.hpp"

namespace aws = gtoken::aws;

namespace {

std::string value(const aws::QueryParams& p, std::string_view name) {
  for (const auto& [k, v] : p) {
    if (k == name) return v;
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("IAM's endpoint and signing region per partition") {
  auto aws_ = aws::iam_endpoint("aws");
  REQUIRE(aws_);
  CHECK(aws_->host == "iam.amazonaws.com");
  CHECK(aws_->signing_region == "us-east-1");
  auto cn = aws::iam_endpoint("aws-cn");
  REQUIRE(cn);
  CHECK(cn->host == "iam.cn-north-1.amazonaws.com.cn");
  CHECK(cn->signing_region == "cn-north-1");
  auto gov = aws::iam_endpoint("aws-us-gov");
  REQUIRE(gov);
  CHECK(gov->host == "iam.us-gov.amazonaws.com");
  CHECK(gov->signing_region == "us-gov-west-1");
  CHECK_FALSE(aws::iam_endpoint("aws-iso"));
  CHECK_FALSE(aws::iam_endpoint(""));
}

TEST_CASE("the partition of an ARN") {
  CHECK(aws::arn_partition("arn:aws:iam::123456789012:role/x") == "aws");
  CHECK(aws::arn_partition("arn:aws-cn:iam::123456789012:role/x") == "aws-cn");
  CHECK(aws::arn_partition("arn:aws-us-gov:iam::123456789012:role/x") == "aws-us-gov");
  CHECK_FALSE(aws::arn_partition("arn:aws-iso:iam::123456789012:role/x"));
  CHECK_FALSE(aws::arn_partition("aws:iam::123456789012:role/x"));
  CHECK_FALSE(aws::arn_partition("arn:aws"));
}

TEST_CASE("role names and role ARNs") {
  CHECK(aws::valid_role_name("a"));
  CHECK(aws::valid_role_name("My_Role+=,.@-1"));
  CHECK(aws::valid_role_name(std::string(64, 'r')));
  CHECK_FALSE(aws::valid_role_name(std::string(65, 'r')));
  CHECK_FALSE(aws::valid_role_name(""));
  CHECK_FALSE(aws::valid_role_name("a/b"));
  CHECK_FALSE(aws::valid_role_name("a b"));
  CHECK_FALSE(aws::valid_role_name("r\xC3\xA9"));
  CHECK(aws::role_name_of_arn("arn:aws:iam::123456789012:role/app") == "app");
  CHECK(aws::role_name_of_arn("arn:aws-cn:iam::123456789012:role/gtoken/team/app") == "app");
  CHECK_FALSE(aws::role_name_of_arn("arn:aws:iam::12345678901:role/app"));
  CHECK_FALSE(aws::role_name_of_arn("arn:aws:iam::123456789012:user/app"));
  CHECK_FALSE(aws::role_name_of_arn("arn:aws:iam::123456789012:role/"));
  CHECK_FALSE(aws::role_name_of_arn("arn:aws:sts::123456789012:role/app"));
  CHECK_FALSE(aws::role_name_of_arn("arn:aws:iam::123456789012:role/a?b"));
}

TEST_CASE("request forms carry Action and Version, and refuse invalid names") {
  auto get = aws::iam_get_role("app");
  CHECK(get ==
        aws::QueryParams{{"Action", "GetRole"}, {"Version", "2010-05-08"}, {"RoleName", "app"}});
  CHECK_THROWS_AS(aws::iam_get_role("a&Action=DeleteRole"), aws::IamInputError);
  auto upd = aws::iam_update_assume_role_policy("app", R"({"Statement":[]})");
  CHECK(value(upd, "Action") == "UpdateAssumeRolePolicy");
  CHECK(value(upd, "PolicyDocument") == R"({"Statement":[]})");
  CHECK_THROWS_AS(aws::iam_update_assume_role_policy("app", ""), aws::IamInputError);
  CHECK_THROWS_AS(aws::iam_update_assume_role_policy("app", std::string(131073, ' ')),
                  aws::IamInputError);

  auto create = aws::iam_create_oidc_provider("https://issuer.example/k8s",
                                              {"sts.amazonaws.com", "x"}, {std::string(40, 'a')});
  CHECK(value(create, "Url") == "https://issuer.example/k8s");
  CHECK(value(create, "ClientIDList.member.1") == "sts.amazonaws.com");
  CHECK(value(create, "ClientIDList.member.2") == "x");
  CHECK(value(create, "ThumbprintList.member.1") == std::string(40, 'a'));
  CHECK(value(create, "ThumbprintList.member.2") == "<absent>");
  CHECK_THROWS_AS(aws::iam_create_oidc_provider("http://issuer", {}, {}), aws::IamInputError);
  CHECK_THROWS_AS(aws::iam_create_oidc_provider("https://issuer", {""}, {}), aws::IamInputError);
  CHECK_THROWS_AS(aws::iam_create_oidc_provider("https://issuer", {}, {"abc"}), aws::IamInputError);

  const std::string arn = "arn:aws:iam::123456789012:oidc-provider/issuer.example/k8s";
  CHECK(value(aws::iam_get_oidc_provider(arn), "OpenIDConnectProviderArn") == arn);
  auto add = aws::iam_add_client_id_to_oidc_provider(arn, "sts.amazonaws.com");
  CHECK(value(add, "Action") == "AddClientIDToOpenIDConnectProvider");
  CHECK(value(add, "ClientID") == "sts.amazonaws.com");
  for (const char* bad :
       {"arn:aws:iam::123456789012:role/x", "arn:aws:iam::1234:oidc-provider/x",
        "arn:aws:sts::123456789012:oidc-provider/x", "arn:aws:iam::123456789012:oidc-provider/a b",
        "arn:aws:iam::123456789012:oidc-provider/"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(aws::iam_get_oidc_provider(bad), aws::IamInputError);
  }
  CHECK_THROWS_AS(aws::iam_add_client_id_to_oidc_provider(arn, ""), aws::IamInputError);
  CHECK(aws::iam_list_oidc_providers() ==
        aws::QueryParams{{"Action", "ListOpenIDConnectProviders"}, {"Version", "2010-05-08"}});
}

TEST_CASE("GetRole: the role and its URL-decoded trust policy") {
  auto role =
      aws::parse_get_role(R"(<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <GetRoleResult>
    <Role>
      <Path>/gtoken/</Path>
      <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Sid%22%3A%22caf%C3%A9+%26%22%7D%5D%7D</AssumeRolePolicyDocument>
      <MaxSessionDuration>3600</MaxSessionDuration>
      <RoleId>AROADBQP57FF2AEXAMPLE</RoleId>
      <RoleName>app</RoleName>
      <Arn>arn:aws:iam::123456789012:role/gtoken/app</Arn>
      <CreateDate>2026-12-01T10:00:00Z</CreateDate>
    </Role>
  </GetRoleResult>
  <ResponseMetadata><RequestId>df37e965-9967-11e1-a4c3-270EXAMPLE04</RequestId></ResponseMetadata>
</GetRoleResponse>)");
  CHECK(role.name == "app");
  CHECK(role.id == "AROADBQP57FF2AEXAMPLE");
  CHECK(role.arn == "arn:aws:iam::123456789012:role/gtoken/app");
  CHECK(role.path == "/gtoken/");
  CHECK(role.create_date == "2026-12-01T10:00:00Z");
  CHECK(role.trust_policy ==
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"caf\xC3\xA9+&\"}]}");
  CHECK_THROWS_AS(aws::parse_get_role("<GetRoleResponse><GetRoleResult/></GetRoleResponse>"),
                  aws::IamAnswerError);
  CHECK_THROWS_AS(aws::parse_get_role("<ListRolesResponse/>"), aws::IamAnswerError);
  CHECK_THROWS_AS(aws::parse_get_role("<GetRoleResponse>"), aws::IamAnswerError);
  CHECK_THROWS_AS(aws::parse_get_role("<GetRoleResponse><GetRoleResult><Role><RoleName>a</RoleName>"
                                      "<Arn>x</Arn><AssumeRolePolicyDocument>%ZZ"
                                      "</AssumeRolePolicyDocument></Role></GetRoleResult>"
                                      "</GetRoleResponse>"),
                  aws::IamAnswerError);
}

TEST_CASE("OIDC provider answers") {
  auto p = aws::parse_get_oidc_provider(
      R"(<GetOpenIDConnectProviderResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <GetOpenIDConnectProviderResult>
    <ThumbprintList><member>c3768084dfb3d2b68b7897bf5f565da8efEXAMPLE</member></ThumbprintList>
    <CreateDate>2026-12-01T10:00:00Z</CreateDate>
    <ClientIDList><member>sts.amazonaws.com</member><member>other</member></ClientIDList>
    <Url>issuer.example/k8s</Url>
  </GetOpenIDConnectProviderResult>
</GetOpenIDConnectProviderResponse>)");
  CHECK(p.url == "issuer.example/k8s");
  CHECK(p.client_ids == std::vector<std::string>{"sts.amazonaws.com", "other"});
  CHECK(p.thumbprints == std::vector<std::string>{"c3768084dfb3d2b68b7897bf5f565da8efEXAMPLE"});
  CHECK(p.create_date == "2026-12-01T10:00:00Z");

  auto list = aws::parse_list_oidc_providers(R"(<ListOpenIDConnectProvidersResponse>
  <ListOpenIDConnectProvidersResult><OpenIDConnectProviderList>
    <member><Arn>arn:aws:iam::123456789012:oidc-provider/a</Arn></member>
    <member><Arn>arn:aws:iam::123456789012:oidc-provider/b/c</Arn></member>
  </OpenIDConnectProviderList></ListOpenIDConnectProvidersResult>
</ListOpenIDConnectProvidersResponse>)");
  CHECK(list == std::vector<std::string>{"arn:aws:iam::123456789012:oidc-provider/a",
                                         "arn:aws:iam::123456789012:oidc-provider/b/c"});
  CHECK(aws::parse_list_oidc_providers(
            "<ListOpenIDConnectProvidersResponse>"
            "<ListOpenIDConnectProvidersResult><OpenIDConnectProviderList/>"
            "</ListOpenIDConnectProvidersResult>"
            "</ListOpenIDConnectProvidersResponse>")
            .empty());
  CHECK(aws::parse_create_oidc_provider(
            "<CreateOpenIDConnectProviderResponse><CreateOpenIDConnectProviderResult>"
            "<OpenIDConnectProviderArn>arn:aws:iam::123456789012:oidc-provider/a"
            "</OpenIDConnectProviderArn></CreateOpenIDConnectProviderResult>"
            "</CreateOpenIDConnectProviderResponse>") ==
        "arn:aws:iam::123456789012:oidc-provider/a");
  CHECK_THROWS_AS(aws::parse_create_oidc_provider("<CreateOpenIDConnectProviderResponse>"
                                                  "<CreateOpenIDConnectProviderResult/>"
                                                  "</CreateOpenIDConnectProviderResponse>"),
                  aws::IamAnswerError);
}

TEST_CASE("ErrorResponse: Type, Code, Message") {
  auto e =
      aws::parse_error_response(R"(<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <Error>
    <Type>Sender</Type>
    <Code>NoSuchEntity</Code>
    <Message>The role with name app cannot be found.</Message>
  </Error>
  <RequestId>4f7a3a3f-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>)");
  REQUIRE(e);
  CHECK(e->type == "Sender");
  CHECK(e->code == "NoSuchEntity");
  CHECK(e->message == "The role with name app cannot be found.");
  CHECK(e->request_id == "4f7a3a3f-0000-0000-0000-000000000000");
  CHECK_FALSE(aws::parse_error_response(""));
  CHECK_FALSE(aws::parse_error_response("<html><body>502 Bad Gateway</body></html>"));
  CHECK_FALSE(aws::parse_error_response(
      "<ErrorResponse><Error><Type>Sender</Type></Error></ErrorResponse>"));
}
