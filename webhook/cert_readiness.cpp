#include "webhook/cert_readiness.hpp"

#include "webhook/ca_bundles.hpp"
#include "webhook/rotation.hpp"

namespace gtoken::webhook {

std::string certificate_not_ready_reason(const ReadinessInput& in) {
  if (in.served_cert_pem.empty()) return "no serving certificate loaded yet";
  if (!in.mutating_synced) return "webhook configuration not read yet";
  if (!in.mutating) return "MutatingWebhookConfiguration " + in.config_name + " not found";
  auto bundles = ca_bundles_of(*in.mutating);
  std::string why;
  if (bundles.empty()) why = "MutatingWebhookConfiguration " + in.config_name + " has no webhooks";
  if (in.validating) {
    for (auto& b : ca_bundles_of(*in.validating)) bundles.push_back(std::move(b));
  }
  for (const auto& b : bundles) {
    if (!certificate_verifies(in.served_cert_pem, join_pem(b), in.now)) {
      return "caBundle does not verify the served certificate (yet)";
    }
  }
  return why;
}

}  // namespace gtoken::webhook
