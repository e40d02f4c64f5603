#pragma once
// The AdmissionReview answer written as text: the same bytes nlohmann's
// dump of the response object gives (keys in its sorted order), without
// building that object, and with the patch's base64 (of the text the
// mutation wrote) straight into the body.

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

}  // namespace gtoken::webhook
