#pragma once
// The caBundle of a webhook configuration (Mutating or Validating), read and
// written the same way for both: one bundle per webhook, base64 of PEM. Pure.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gtoken::webhook {

// The CA certificates of each webhook's caBundle, in webhook order; an empty
// list for a webhook without one (or one that does not decode).
std::vector<std::vector<std::string>> ca_bundles_of(const nlohmann::json& config);

// True when some webhook's caBundle is not exactly `bundle_base64`.
bool ca_bundle_differs(const nlohmann::json& config, const std::string& bundle_base64);

// `config` with every webhook's caBundle set to `bundle_base64`, ready for an
// update (managedFields dropped; resourceVersion kept, so a concurrent write
// makes it fail with 409).
nlohmann::json with_ca_bundle(nlohmann::json config, const std::string& bundle_base64);

}  // namespace gtoken::webhook
