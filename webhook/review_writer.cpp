#include "webhook/review_writer.hpp"

#include "kube/base64.hpp"
#include "webhook/json_writer.hpp"

namespace gtoken::webhook {

std::string write_admission_review(std::string_view uid, const Decision& decision,
                                   std::size_t& patch_operations) {
  patch_operations = 0;
  const bool patched = decision.allowed && !decision.patch.empty();
  const std::string& patch = decision.patch.json;
  if (patched) patch_operations = decision.patch.operations;
  std::string out;
  out.reserve(160 + uid.size() + (patched ? (patch.size() + 2) / 3 * 4 : 0));
  out += R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"allowed":)";
  out += decision.allowed ? "true" : "false";
  if (patched) {
    out += R"(,"patch":")";
    kube::base64_encode_append(out, patch);
    out += R"(","patchType":"JSONPatch")";
  }
  if (!decision.allowed) {
    out += R"(,"status":{"code":)";
    out += std::to_string(decision.status_code);
    out += R"(,"message":)";
    append_json_string(out, decision.status_message);
    out += '}';
  }
  out += R"(,"uid":)";
  append_json_string(out, uid);
  if (!decision.warnings.empty()) {
    out += R"(,"warnings":[)";
    const std::size_t count = decision.warnings.size();
    for (std::size_t i = 0; i < count; ++i) {
      if (i > 0) out += ',';
      if (i + 1 == kMaxWarnings && count > kMaxWarnings) {
        append_json_string(out, std::to_string(count - i) + " more warnings");
        break;
      }
      append_json_string(out, sanitize_warning(decision.warnings[i]));
    }
    out += ']';
  }
  out += "}}";
  return out;
}

}  // namespace gtoken::webhook
