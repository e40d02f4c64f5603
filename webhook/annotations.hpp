#pragma once

#include <string_view>

namespace gtoken::webhook {

// ServiceAccount annotations. The role ARN key is the seed's (doitintl/gtoken)
// so ServiceAccounts annotated for it keep working; the rest have no peer
// convention outside EKS (eks.amazonaws.com/...), so they live under ours.
inline constexpr std::string_view kRoleArnAnnotation = "amazonaws.com/role-arn";
inline constexpr std::string_view kAudienceAnnotation = "gtoken.io/audience";
inline constexpr std::string_view kRegionAnnotation = "gtoken.io/region";
inline constexpr std::string_view kTokenExpirationAnnotation = "gtoken.io/token-expiration";
// Written by the operator from AwsRoleBinding.spec.containers: "a,b".
inline constexpr std::string_view kContainersAnnotation = "gtoken.io/containers";

// Pod annotations (defaults; MutationConfig can rename them).
inline constexpr std::string_view kInjectAnnotation = "gtoken.io/inject";
inline constexpr std::string_view kSkipContainersAnnotation = "gtoken.io/skip-containers";

// Namespace label (the seed's): any value opts the whole namespace out.
inline constexpr std::string_view kIgnoreNamespaceLabel = "admission.gtoken/ignore";

}  // namespace gtoken::webhook
