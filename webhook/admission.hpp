#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "webhook/patch_text.hpp"
#include "webhook/skip_reason.hpp"

namespace gtoken::webhook {

// The apiserver's own default request body limit (--max-request-bytes,
// 3 MiB): no AdmissionReview it sends is larger.
inline constexpr std::size_t kDefaultAdmissionBodyLimit = std::size_t{3} * 1024 * 1024;
// Far deeper than any Kubernetes object; bounds the recursion of every later
// copy, comparison and dump of the document.
inline constexpr std::size_t kMaxJsonDepth = 128;
// Values, keys and containers in one document. A real pod, managedFields
// included, has a few thousand; a body of `[{},{},...]` has one per 3 bytes,
// and each costs tens of bytes once decoded.
inline constexpr std::size_t kMaxJsonElements = 100'000;
// What the decoded document may cost, estimated during the syntax pass from
// its elements and string bytes (nlohmann::json's node sizes): the body
// limit's 3 MiB decode to at most this, whatever their shape.
inline constexpr std::size_t kMaxDecodedBytes = std::size_t{16} * 1024 * 1024;
// AdmissionResponse.warnings: the apiserver wants each under 120 characters.
inline constexpr std::size_t kMaxWarningLength = 119;
inline constexpr std::size_t kMaxWarnings = 10;

// The part of AdmissionReview.request a decision needs, decoded and type-checked.
struct AdmissionRequest {
  std::string uid;
  // The caller must not cause side effects for a dry run; the patch is the same.
  bool dry_run = false;
  std::string operation;   // CREATE, UPDATE, DELETE, CONNECT
  std::string namespace_;  // empty for cluster-scoped objects
  std::string name;        // empty for generateName creations
  std::string group;       // request.kind.group, "" for the core group
  std::string version;     // request.kind.version
  std::string kind;        // request.kind.kind, e.g. "Pod"
  std::string resource;    // request.resource.resource, e.g. "pods"
  std::string sub_resource;
  // AdmissionReview.request: the whole object, or with
  // AdmissionDecoding::PodView only what the pod review reads (pod_view.hpp).
  nlohmann::json request;

  // request.object, or null.
  const nlohmann::json& object() const;
};

// What to answer. The default is "allowed, unchanged".
struct Decision {
  bool allowed = true;
  // Sent only when non-empty.
  PatchText patch;
  std::vector<std::string> warnings;
  // Sent as AdmissionResponse.status when !allowed.
  int status_code = 403;
  std::string status_message;
  // Why nothing was patched, for the caller's logs and metrics; not sent.
  std::optional<SkipReason> skip;
};

using Decide = std::function<Decision(const AdmissionRequest&)>;

// Why a request got no AdmissionReview answer.
enum class AdmissionError {
  EmptyBody,
  BodyTooLarge,
  UnsupportedContentType,
  MalformedJson,
  JsonTooDeep,
  // More than kMaxJsonElements, or an estimated decoded size over
  // kMaxDecodedBytes: refused before the document is built.
  TooManyElements,
  NotAdmissionReview,
  // The decision threw or returned something unusable. Answered with HTTP 500
  // rather than allowed: false, so the webhook's failurePolicy decides.
  DecisionFailed,
};

std::string_view to_string(AdmissionError error) noexcept;

struct AdmissionHttpResult {
  static constexpr std::string_view kContentType = "application/json";
  int status = 200;
  // Always JSON: an AdmissionReview on 200, a metav1.Status otherwise.
  std::string body;

  // For the caller's logs and metrics.
  std::optional<AdmissionError> error;
  std::string uid;
  bool dry_run = false;
  bool allowed = true;
  std::optional<SkipReason> skip;
  std::size_t patch_operations = 0;
};

// The whole HTTP-level handling of one admission call, apart from moving
// bytes: rejects before decoding (empty body, over body_limit, wrong content
// type), then malformed or non-v1 AdmissionReviews, then asks `decide` and
// builds the response AdmissionReview echoing request.uid. Never throws.
AdmissionHttpResult handle_admission(std::string_view content_type, std::string_view body,
                                     std::size_t body_limit, const Decide& decide) noexcept;

// handle_admission in two halves, for a caller that decides elsewhere (the
// server decides a cache miss on another thread).
//
// What of the body decode_admission builds: the whole document, or in one
// pass only the parts a pod review reads (webhook/pod_view.hpp; /mutate).
// The checks, rejections and decoded fields are the same either way.
enum class AdmissionDecoding { Whole, PodView };
// The checks before deciding and the decoding: the request, or the rejection
// to send. Never throws.
struct DecodedAdmission {
  std::optional<AdmissionRequest> request;
  AdmissionHttpResult rejection;  // when !request
};
DecodedAdmission decode_admission(std::string_view content_type, std::string_view body,
                                  std::size_t body_limit,
                                  AdmissionDecoding decoding = AdmissionDecoding::Whole) noexcept;
// Asks `decide` and builds the AdmissionReview answer (or the 500 of a failed
// decision). Never throws.
AdmissionHttpResult answer_admission(const AdmissionRequest& request,
                                     const Decide& decide) noexcept;

// Makes a warning acceptable to the apiserver: control characters become
// spaces, and it is cut (on a UTF-8 boundary, marked "...") to kMaxWarningLength.
std::string sanitize_warning(std::string_view warning);

}  // namespace gtoken::webhook
