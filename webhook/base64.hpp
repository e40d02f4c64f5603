#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gtoken::webhook {

// Standard alphabet with "=" padding (RFC 4648 §4), as AdmissionResponse.patch expects.
std::string base64_encode(std::string_view bytes);
// Standard alphabet, padding optional; nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace gtoken::webhook
