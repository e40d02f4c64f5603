#pragma once
// Readiness, as far as certificates go: can the apiserver verify what this
// replica serves? Pure: the served certificate, the configurations as stored
// in the apiserver (the informers' copies) and the time come in as values.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "webhook/certs.hpp"

namespace gtoken::webhook {

struct ReadinessInput {
  std::string served_cert_pem;  // "" = nothing loaded yet
  std::string config_name;      // for the reasons
  // The MutatingWebhookConfiguration cache has listed; `mutating` null = not
  // found.
  bool mutating_synced = false;
  std::shared_ptr<const nlohmann::json> mutating;
  // The ValidatingWebhookConfiguration of the same name, when its cache has
  // listed and it exists; null otherwise (it is optional).
  std::shared_ptr<const nlohmann::json> validating;
  TimePoint now{};
};

// "" when a certificate is loaded and the caBundle of every webhook of both
// configurations verifies it at `now`; else the first reason missing.
std::string certificate_not_ready_reason(const ReadinessInput& input);

}  // namespace gtoken::webhook
