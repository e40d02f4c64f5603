#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "webhook/config.hpp"
#include "webhook/patch_text.hpp"
#include "webhook/session_name.hpp"
#include "webhook/settings.hpp"
#include "webhook/skip_reason.hpp"

namespace gtoken::webhook {

struct MutationResult {
  // RFC 6902 operations; empty when skip is set.
  nlohmann::json patch = nlohmann::json::array();
  // Each meant for the user (AdmissionResponse.warnings); handle_admission
  // shortens them to the apiserver's limit.
  std::vector<std::string> warnings;
  std::optional<SkipReason> skip;
};

// The pure mutation: what to add to `pod` (a v1 Pod as JSON, as the apiserver
// sends it in AdmissionRequest.object) so its containers get AWS web-identity
// credentials: for sa.token_source Google the agent and its token volume, for
// Kubernetes a projected ServiceAccount token volume (no agent).
// `namespace_` is AdmissionRequest.namespace, since the pod's own
// metadata.namespace may still be empty at admission. `random` is only called
// for generateName pods whose names are too long for the runtime session name.
// Applying the result's patch to its output yields an empty patch.
// Never throws on malformed pods (they give SkipReason::InvalidPod); may throw
// std::bad_alloc.
MutationResult mutate_pod(const nlohmann::json& pod, const std::string& namespace_,
                          const SaSettings& sa, const MutationConfig& cfg,
                          const RandomSource& random);

// mutate_pod with the patch written straight as text, no document built: what
// the server sends. The same decisions (one Mutation, two writers), and
// patch.json is byte for byte mutate_pod's patch.dump(), as
// tests/unit/webhook_fast_path_test.cpp checks over the golden corpus and
// fuzzed pods.
struct MutationText {
  PatchText patch;  // empty when skip is set
  std::vector<std::string> warnings;
  std::optional<SkipReason> skip;
};
MutationText mutate_pod_text(const nlohmann::json& pod, const std::string& namespace_,
                             const SaSettings& sa, const MutationConfig& cfg,
                             const RandomSource& random);

// For the caller, which has the Namespace object: the operator's own namespace
// and namespaces labelled admission.gtoken/ignore are never mutated.
// `ns_labels` is metadata.labels (an object, or null).
std::optional<SkipReason> should_skip_namespace(const nlohmann::json& ns_labels,
                                                std::string_view namespace_,
                                                std::string_view operator_namespace);

}  // namespace gtoken::webhook
