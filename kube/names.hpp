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

// `s` with every byte outside printable ASCII written as \xNN, cut to
// `max` bytes (then "..."): for quoting untrusted input in a message.
std::string quote_untrusted(std::string_view s, size_t max = 80);

}  // namespace kube
