#pragma once
// Base64 (RFC 4648 §4) and base64url (§5) without Beast or OpenSSL headers.

#include <optional>
#include <string>
#include <string_view>

namespace kube {

std::string base64_encode(std::string_view data);
// base64_encode(data) appended to `out` (no temporary: the webhook writes a
// patch's base64 straight into its answer).
void base64_encode_append(std::string& out, std::string_view data);
std::string base64url_encode(std::string_view data);  // no padding
// Accepts both alphabets, optional padding, and ignores ASCII whitespace
// (PEM-like line breaks in kubeconfig data fields). nullopt when invalid.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace kube
