#pragma once
// AWS's percent-encoding (RFC 3986 as SigV4 and the query APIs use it): the
// unreserved characters A-Z a-z 0-9 - _ . ~ stay, every other byte of the
// UTF-8 text becomes %XX with upper-case hex; a space is %20, never '+'.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gtoken::aws {

// Query parameters or form fields in the order given, decoded.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// `keep_slash`: '/' stays as is (a URI path), else it is %2F.
std::string percent_encode(std::string_view s, bool keep_slash = false);

// %XX (either case) back to bytes; '+' stays '+' (IAM's URL-encoded policy
// documents are decoded this way, as botocore's unquote does). nullopt on a
// '%' not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s);

// "k1=v1&k2=v2", each name and value percent-encoded: a query string, or
// the application/x-www-form-urlencoded body of a query-API request.
std::string form_encode(const QueryParams& params);

}  // namespace gtoken::aws
