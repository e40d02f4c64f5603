#pragma once
// Validation of the names that reach a request path (pure, no I/O).
//
// Kubernetes names are DNS-1123 labels (namespaces) or subdomains (most
// other objects). Anything that will become part of a request target is
// checked here first, so a hostile byte never reaches the HTTP client.

#include <string>
#include <string_view>

namespace kube {

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 bytes (namespaces, Services).
bool is_dns1123_label(std::string_view s);
// Dot-separated DNS-1123 labels, at most 253 bytes (ServiceAccounts,
// custom resources, Secrets, ...).
bool is_dns1123_subdomain(std::string_view s);

// What the apiserver itself accepts as a name in a path (any resource,
// e.g. RBAC "system:..." names): not empty, not "." or "..", no '/' and no
// '%'. Such a name must still be percent-encoded (encode_path_segment).
bool is_path_segment_name(std::string_view s);

// Percent-encodes one path segment: every byte outside the RFC 3986
// unreserved set [A-Za-z0-9-._~] becomes %XX, so the result never holds
// '/', '?', '#', a bare '%', space or a control byte. Resource::path
// encodes every segment it writes with this.
std::string encode_path_segment(std::string_view s);

// Decodes %XX escapes (the inverse of encode_path_segment; tests read a
// segment back with it). A malformed escape is kept as is.
std::string decode_path_segment(std::string_view s);

// `s` with every byte outside printable ASCII written as \xNN, cut to
// `max` bytes (then "..."): for quoting untrusted input in a message.
std::string quote_untrusted(std::string_view s, size_t max = 80);

}  // namespace kube
