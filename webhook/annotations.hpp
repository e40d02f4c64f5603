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

// Pod annotations (defaults; MutationConfig can rename them).
inline constexpr std::string_view kInjectAnnotation = contract::kInjectAnnotation;
inline constexpr std::string_view kSkipContainersAnnotation = contract::kSkipContainersAnnotation;

// Namespace label (the seed's): any value opts the whole namespace out.
inline constexpr std::string_view kIgnoreNamespaceLabel = contract::kIgnoreNamespaceLabel;

}  // namespace gtoken::webhook
