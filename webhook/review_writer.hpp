#pragma once
// The AdmissionReview answer written as text: the same bytes nlohmann's
// dump of the response object gives (keys in its sorted order), without
// building that object, and with the patch's base64 written straight into
// the body instead of being escaped again as a JSON string.

#include <cstddef>
#include <string>
#include <string_view>

#include "webhook/admission.hpp"

namespace gtoken::webhook {

// {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":
// {"allowed", "patch" and "patchType" when allowed with a patch, "status"
// when denied, "uid", "warnings" (sanitize_warning'd, at most kMaxWarnings,
// the last one counting the rest) when any}}. `patch_operations` is set to
// the patch's length when it is sent, else 0.
std::string write_admission_review(std::string_view uid, const Decision& decision,
                                   std::size_t& patch_operations);

// Appends `text` as a JSON string, as nlohmann's dump does (invalid UTF-8
// replaced by U+FFFD).
void append_json_string(std::string& out, std::string_view text);

}  // namespace gtoken::webhook
