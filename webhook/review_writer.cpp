#include "webhook/review_writer.hpp"

#include <nlohmann/json.hpp>

#include "kube/base64.hpp"

namespace gtoken::webhook {

namespace {

bool is_plain(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  if (is_plain(text)) {
    out += '"';
    out += text;
    out += '"';
    return;
  }
  out += nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string write_admission_review(std::string_view uid, const Decision& decision,
                                   std::size_t& patch_operations) {
  patch_operations = 0;
  std::string patch;
  if (decision.allowed && !decision.patch.empty()) {
    patch = decision.patch.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    patch_operations = decision.patch.size();
  }
  std::string out;
  out.reserve(160 + uid.size() + (patch.size() + 2) / 3 * 4);
  out += R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"allowed":)";
  out += decision.allowed ? "true" : "false";
  if (!patch.empty()) {
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
