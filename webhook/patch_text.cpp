#include "webhook/patch_text.hpp"

#include <stdexcept>

namespace gtoken::webhook {

PatchText PatchText::of(const nlohmann::json& operations) {
  if (!operations.is_array()) throw std::invalid_argument("patch is not a JSON array");
  PatchText out;
  out.operations = operations.size();
  if (out.operations > 0) {
    out.json = operations.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return out;
}

}  // namespace gtoken::webhook
