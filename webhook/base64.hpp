#pragma once

#include <string>
#include <string_view>

namespace gtoken::webhook {

// Standard alphabet with "=" padding (RFC 4648 §4), as AdmissionResponse.patch expects.
std::string base64_encode(std::string_view bytes);

}  // namespace gtoken::webhook
