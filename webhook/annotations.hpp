#pragma once

#include <string_view>

#include "contract/gtoken.hpp"

namespace gtoken::webhook {

// The webhook's view of the contract (contract/gtoken.hpp) as string_views.
inline constexpr std::string_view kRoleArnAnnotation = contract::kRoleArnAnnotation;
inline constexpr std::string_view kAudienceAnnotation = contract::kAudienceAnnotation;
inline constexpr std::string_view kRegionAnnotation = contract::kRegionAnnotation;
inline constexpr std::string_view kTokenExpirationAnnotation = contract::kTokenExpirationAnnotation;
inline constexpr std::string_view kContainersAnnotation = contract::kContainersAnnotation;
// Only read to choose the token source when both role annotations are set.
inline constexpr std::string_view kGcpServiceAccountAnnotation =
    contract::kGcpServiceAccountAnnotation;

// The Kubernetes token source: the EKS webhook's ServiceAccount annotations.
inline constexpr std::string_view kEksRoleArnAnnotation = contract::kEksRoleArnAnnotation;
inline constexpr std::string_view kEksAudienceAnnotation = contract::kEksAudienceAnnotation;
inline constexpr std::string_view kEksTokenExpirationAnnotation =
    contract::kEksTokenExpirationAnnotation;
inline constexpr std::string_view kEksStsRegionalEndpointsAnnotation =
    contract::kEksStsRegionalEndpointsAnnotation;

// Pod annotations (defaults; MutationConfig can rename them).
inline constexpr std::string_view kInjectAnnotation = contract::kInjectAnnotation;
inline constexpr std::string_view kSkipContainersAnnotation = contract::kSkipContainersAnnotation;
// Kubernetes token source only (kEksTokenExpirationAnnotation is read on pods too).
inline constexpr std::string_view kEksSkipContainersAnnotation =
    contract::kEksSkipContainersAnnotation;

// Namespace label (the seed's): any value opts the whole namespace out.
inline constexpr std::string_view kIgnoreNamespaceLabel = contract::kIgnoreNamespaceLabel;

}  // namespace gtoken::webhook
