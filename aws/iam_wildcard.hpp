#pragma once
// IAM's wildcard match, as StringLike and Action use it: `*` is any run of
// characters (also none), `?` exactly one; every other character is itself.

#include <string_view>

namespace gtoken::aws {

// Whole-string match; `ignore_case` folds ASCII letters (Action names are
// case-insensitive, condition values are not).
bool iam_wildcard_match(std::string_view value, std::string_view pattern, bool ignore_case = false);

}  // namespace gtoken::aws
