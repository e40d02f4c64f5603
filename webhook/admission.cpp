#include "webhook/admission.hpp"

#include <exception>
#include <stdexcept>

#include "kube/status.hpp"
#include "webhook/json_budget.hpp"
#include "webhook/pod_view.hpp"
#include "webhook/review_writer.hpp"
#include "webhook/text.hpp"

namespace gtoken::webhook {

using nlohmann::json;

namespace {

// Syntax, nesting and size check without building a document: the DOM
// parser itself is iterative, but everything done with a document afterwards
// recurses (hence the depth), and a small body can decode to a large document
// (hence elements and bytes). Aborts at the first limit passed, so a hostile
// body costs one scan and no allocation beyond the lexer's current token.
class SyntaxCheck {
 public:
  JsonBudget budget;

  bool null() { return budget.scalar(); }
  bool boolean(bool /*value*/) { return budget.scalar(); }
  bool number_integer(json::number_integer_t /*value*/) { return budget.scalar(); }
  bool number_unsigned(json::number_unsigned_t /*value*/) { return budget.scalar(); }
  bool number_float(json::number_float_t /*value*/, const std::string& /*text*/) {
    return budget.scalar();
  }
  bool string(std::string& s) { return budget.string(s.size()); }
  bool binary(json::binary_t& /*value*/) { return budget.scalar(); }
  bool start_object(std::size_t /*size*/) { return budget.start_object(); }
  bool key(std::string& k) { return budget.key(k.size()); }
  bool end_object() { return budget.end(); }
  bool start_array(std::size_t /*size*/) { return budget.start_array(); }
  bool end_array() { return budget.end(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*error*/) {
    return false;
  }
};

// The whole document, after a syntax pass that checks the limits.
bool parse_whole(std::string_view body, json& out, JsonBudget& budget) {
  SyntaxCheck check;
  const bool ok = json::sax_parse(body, &check);
  budget = check.budget;
  if (!ok) return false;
  out = json::parse(body, nullptr, false);
  return !out.is_discarded();
}

AdmissionHttpResult reject(AdmissionError error, const std::string& message) {
  AdmissionHttpResult result;
  result.error = error;
  std::string reason = "BadRequest";
  result.status = 400;
  if (error == AdmissionError::BodyTooLarge) {
    result.status = 413;
    reason = "RequestEntityTooLarge";
  } else if (error == AdmissionError::DecisionFailed) {
    result.status = 500;
    reason = "InternalError";
  }
  result.body = kube::failure_status_body(result.status, reason,
                                          std::string(to_string(error)) + ": " + message);
  return result;
}

bool is_media_type_json(std::string_view content_type) {
  const auto semicolon = content_type.find(';');
  return to_lower(trim(content_type.substr(0, semicolon))) == "application/json";
}

// Absent and null read as "", anything else but a string fails.
bool read_string(const json& object, std::string_view key, std::string& out) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

std::optional<AdmissionRequest> decode_request(json& review) {
  if (!review.is_object()) return std::nullopt;
  const auto api_version = review.find("apiVersion");
  const auto kind = review.find("kind");
  const auto request = review.find("request");
  if (api_version == review.end() || *api_version != "admission.k8s.io/v1") return std::nullopt;
  if (kind == review.end() || *kind != "AdmissionReview") return std::nullopt;
  if (request == review.end() || !request->is_object()) return std::nullopt;

  AdmissionRequest out;
  const json& r = *request;
  if (!read_string(r, "uid", out.uid) || out.uid.empty()) return std::nullopt;
  if (const auto dry_run = r.find("dryRun"); dry_run != r.end() && !dry_run->is_null()) {
    if (!dry_run->is_boolean()) return std::nullopt;
    out.dry_run = dry_run->get<bool>();
  }
  if (!read_string(r, "operation", out.operation) || !read_string(r, "namespace", out.namespace_) ||
      !read_string(r, "name", out.name) || !read_string(r, "subResource", out.sub_resource)) {
    return std::nullopt;
  }
  if (const auto gvk = r.find("kind"); gvk != r.end() && !gvk->is_null()) {
    if (!gvk->is_object() || !read_string(*gvk, "group", out.group) ||
        !read_string(*gvk, "version", out.version) || !read_string(*gvk, "kind", out.kind)) {
      return std::nullopt;
    }
  }
  if (const auto gvr = r.find("resource"); gvr != r.end() && !gvr->is_null()) {
    if (!gvr->is_object() || !read_string(*gvr, "resource", out.resource)) return std::nullopt;
  }
  out.request = std::move(*request);
  return out;
}

DecodedAdmission decode(std::string_view content_type, std::string_view body,
                        std::size_t body_limit, AdmissionDecoding decoding) {
  DecodedAdmission out;
  if (body.empty()) {
    out.rejection = reject(AdmissionError::EmptyBody, "request body is empty");
    return out;
  }
  if (body.size() > body_limit) {
    out.rejection = reject(AdmissionError::BodyTooLarge,
                           "request body exceeds " + std::to_string(body_limit) + " bytes");
    return out;
  }
  if (!is_media_type_json(content_type)) {
    out.rejection = reject(AdmissionError::UnsupportedContentType,
                           "content type must be application/json, got \"" +
                               std::string(content_type.substr(0, 64)) + "\"");
    return out;
  }
  JsonBudget budget;
  json review;
  const bool parsed = decoding == AdmissionDecoding::PodView
                          ? parse_pod_view(body, review, budget)
                          : parse_whole(body, review, budget);
  if (!parsed) {
    if (budget.exceeded == AdmissionError::JsonTooDeep) {
      out.rejection = reject(AdmissionError::JsonTooDeep,
                             "JSON nested deeper than " + std::to_string(kMaxJsonDepth));
    } else if (budget.exceeded == AdmissionError::TooManyElements) {
      out.rejection =
          reject(AdmissionError::TooManyElements,
                 "JSON document over " + std::to_string(kMaxJsonElements) + " elements or " +
                     std::to_string(kMaxDecodedBytes) + " bytes decoded");
    } else {
      out.rejection = reject(AdmissionError::MalformedJson, "request body is not valid JSON");
    }
    return out;
  }
  out.request = decode_request(review);
  if (!out.request) {
    out.rejection = reject(AdmissionError::NotAdmissionReview,
                           "expected an admission.k8s.io/v1 AdmissionReview with request.uid");
  }
  return out;
}

AdmissionHttpResult answer(const AdmissionRequest& request, const Decide& decide) {
  Decision decision;
  try {
    if (!decide) throw std::logic_error("no decision function");
    decision = decide(request);
  } catch (const std::exception& e) {
    AdmissionHttpResult failed =
        reject(AdmissionError::DecisionFailed, std::string(e.what()).substr(0, 200));
    failed.uid = request.uid;
    failed.dry_run = request.dry_run;
    return failed;
  } catch (...) {
    AdmissionHttpResult failed = reject(AdmissionError::DecisionFailed, "unknown exception");
    failed.uid = request.uid;
    failed.dry_run = request.dry_run;
    return failed;
  }

  AdmissionHttpResult result;
  result.uid = request.uid;
  result.dry_run = request.dry_run;
  result.allowed = decision.allowed;
  result.skip = decision.skip;
  result.body = write_admission_review(request.uid, decision, result.patch_operations);
  return result;
}

// Only allocation can fail this far out; a fixed body needs the least of it.
AdmissionHttpResult out_of_memory() noexcept {
  AdmissionHttpResult result;
  result.status = 500;
  result.error = AdmissionError::DecisionFailed;
  try {
    result.body =
        R"({"apiVersion":"v1","kind":"Status","status":"Failure","code":500,"reason":"InternalError"})";
  } catch (...) {
  }
  return result;
}

}  // namespace

const json& AdmissionRequest::object() const {
  static const json kNull;
  if (!request.is_object()) return kNull;
  const auto it = request.find("object");
  return it == request.end() ? kNull : *it;
}

std::string_view to_string(AdmissionError error) noexcept {
  switch (error) {
    case AdmissionError::EmptyBody:
      return "EmptyBody";
    case AdmissionError::BodyTooLarge:
      return "BodyTooLarge";
    case AdmissionError::UnsupportedContentType:
      return "UnsupportedContentType";
    case AdmissionError::MalformedJson:
      return "MalformedJson";
    case AdmissionError::JsonTooDeep:
      return "JsonTooDeep";
    case AdmissionError::TooManyElements:
      return "TooManyElements";
    case AdmissionError::NotAdmissionReview:
      return "NotAdmissionReview";
    case AdmissionError::DecisionFailed:
      return "DecisionFailed";
  }
  return "Unknown";
}

std::string sanitize_warning(std::string_view warning) {
  std::string out(warning);
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) c = ' ';
  }
  if (out.size() <= kMaxWarningLength) return out;
  constexpr std::string_view kEllipsis = "...";
  std::size_t cut = kMaxWarningLength - kEllipsis.size();
  // Back up over UTF-8 continuation bytes (10xxxxxx) to a character start.
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  out += kEllipsis;
  return out;
}

DecodedAdmission decode_admission(std::string_view content_type, std::string_view body,
                                  std::size_t body_limit, AdmissionDecoding decoding) noexcept {
  try {
    return decode(content_type, body, body_limit, decoding);
  } catch (...) {
    DecodedAdmission out;
    out.rejection = out_of_memory();
    return out;
  }
}

AdmissionHttpResult answer_admission(const AdmissionRequest& request,
                                     const Decide& decide) noexcept {
  try {
    return answer(request, decide);
  } catch (...) {
    return out_of_memory();
  }
}

AdmissionHttpResult handle_admission(std::string_view content_type, std::string_view body,
                                     std::size_t body_limit, const Decide& decide) noexcept {
  try {
    DecodedAdmission decoded = decode(content_type, body, body_limit, AdmissionDecoding::Whole);
    if (!decoded.request) return std::move(decoded.rejection);
    return answer(*decoded.request, decide);
  } catch (...) {
    return out_of_memory();
  }
}

}  // namespace gtoken::webhook
