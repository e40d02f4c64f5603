#pragma once
// A policy document's size as IAM counts it against its quotas. IAM's quota
// page says it does not count white space; a trust policy's quota ("Role
// trust policy length", 2,048 by default) is given in characters. So: the
// JSON text's characters (UTF-8 code points) without the white space between
// tokens; white space inside strings is part of a value and counts.

#include <cstddef>
#include <string_view>

namespace gtoken::aws {

inline constexpr std::size_t kDefaultTrustPolicyLimit = 2048;

std::size_t iam_policy_size(std::string_view json_text);

}  // namespace gtoken::aws
