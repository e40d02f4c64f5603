#pragma once
// AWS partitions as gtoken needs them: IAM is one global endpoint per
// partition, signed for one region (botocore's endpoints.json, the
// "<partition>-global" endpoint of service "iam").

#include <optional>
#include <string_view>

namespace gtoken::aws {

struct IamEndpoint {
  std::string_view partition;       // aws, aws-cn, aws-us-gov
  std::string_view host;            // iam.amazonaws.com
  std::string_view signing_region;  // us-east-1
};

// nullopt for a partition gtoken does not know.
std::optional<IamEndpoint> iam_endpoint(std::string_view partition);

// The partition of an ARN ("arn:PARTITION:service:..."), nullopt if `arn` is
// not one of a known partition.
std::optional<std::string_view> arn_partition(std::string_view arn);

}  // namespace gtoken::aws
