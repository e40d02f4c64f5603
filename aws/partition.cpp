#include "aws/partition.hpp"

namespace gtoken::aws {

namespace {

constexpr IamEndpoint kIam[] = {
    {"aws", "iam.amazonaws.com", "us-east-1"},
    {"aws-cn", "iam.cn-north-1.amazonaws.com.cn", "cn-north-1"},
    {"aws-us-gov", "iam.us-gov.amazonaws.com", "us-gov-west-1"},
};

}  // namespace

std::optional<IamEndpoint> iam_endpoint(std::string_view partition) {
  for (const auto& e : kIam) {
    if (e.partition == partition) return e;
  }
  return std::nullopt;
}

std::optional<std::string_view> arn_partition(std::string_view arn) {
  constexpr std::string_view kPrefix = "arn:";
  if (arn.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = arn.substr(kPrefix.size());
  size_t colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto endpoint = iam_endpoint(rest.substr(0, colon));
  if (!endpoint) return std::nullopt;
  return endpoint->partition;
}

}  // namespace gtoken::aws
