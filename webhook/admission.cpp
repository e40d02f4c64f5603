#include "webhook/admission.hpp"

#include <exception>
#include <stdexcept>

#include "kube/status.hpp"
#include "webhook/base64.hpp"
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
  std::optional<AdmissionError> exceeded;

  bool null() { return value(); }
  bool boolean(bool /*value*/) { return value(); }
  bool number_integer(json::number_integer_t /*value*/) { return value(); }
  bool number_unsigned(json::number_unsigned_t /*value*/) { return value(); }
  bool number_float(json::number_float_t /*value*/, const std::string& /*text*/) { return value(); }
  bool string(std::string& s) { return value(kStringNode + heap(s.size())); }
  bool binary(json::binary_t& /*value*/) { return value(); }
  bool start_object(std::size_t /*size*/) { return enter(kObjectNode); }
  bool key(std::string& k) { return count(kMemberNode + heap(k.size())); }
  bool end_object() { return leave(); }
  bool start_array(std::size_t /*size*/) { return enter(kArrayNode); }
  bool end_array() { return leave(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*error*/) {
    return false;
  }

  std::size_t elements() const { return elements_; }
  std::size_t bytes() const { return bytes_; }

 private:
  // Estimated costs in nlohmann::json on a 64-bit libstdc++, with malloc's
  // overhead: every value a 16-byte slot (doubled for vector growth); an
  // object its std::map, each member a map node with its key; a string its
  // std::string and, beyond the small-string buffer, its characters.
  static constexpr std::size_t kSlot = 32;
  static constexpr std::size_t kObjectNode = 64;
  static constexpr std::size_t kArrayNode = 40;
  static constexpr std::size_t kMemberNode = 96;
  static constexpr std::size_t kStringNode = 48;
  static std::size_t heap(std::size_t length) { return length > 15 ? length + 17 : 0; }

  bool count(std::size_t cost) {
    bytes_ += cost;
    if (++elements_ > kMaxJsonElements || bytes_ > kMaxDecodedBytes) {
      exceeded = AdmissionError::TooManyElements;
      return false;
    }
    return true;
  }
  bool value(std::size_t extra = 0) { return count(kSlot + extra); }
  bool enter(std::size_t node) {
    if (++depth_ > kMaxJsonDepth) {
      exceeded = AdmissionError::JsonTooDeep;
      return false;
    }
    return value(node);
  }
  bool leave() {
    --depth_;
    return true;
  }
  std::size_t depth_ = 0;
  std::size_t elements_ = 0;
  std::size_t bytes_ = 0;
};

std::string dump(const json& value) {
  // Replace, not throw, should a string ever hold invalid UTF-8.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
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
  result.body = dump(
      kube::failure_status(result.status, reason, std::string(to_string(error)) + ": " + message));
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

json response_review(const AdmissionRequest& request, const Decision& decision,
                     AdmissionHttpResult& result) {
  json response{{"uid", request.uid}, {"allowed", decision.allowed}};
  if (decision.allowed && !decision.patch.empty()) {
    response["patchType"] = "JSONPatch";
    response["patch"] = base64_encode(dump(decision.patch));
    result.patch_operations = decision.patch.size();
  }
  if (!decision.allowed) {
    response["status"] = {{"code", decision.status_code}, {"message", decision.status_message}};
  }
  if (!decision.warnings.empty()) {
    json warnings = json::array();
    for (std::size_t i = 0; i < decision.warnings.size(); ++i) {
      if (i + 1 == kMaxWarnings && decision.warnings.size() > kMaxWarnings) {
        warnings.push_back(std::to_string(decision.warnings.size() - i) + " more warnings");
        break;
      }
      warnings.push_back(sanitize_warning(decision.warnings[i]));
    }
    response["warnings"] = std::move(warnings);
  }
  return json{
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"response", std::move(response)},
  };
}

DecodedAdmission decode(std::string_view content_type, std::string_view body,
                        std::size_t body_limit) {
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
  SyntaxCheck check;
  if (!json::sax_parse(body, &check)) {
    if (check.exceeded == AdmissionError::JsonTooDeep) {
      out.rejection = reject(AdmissionError::JsonTooDeep,
                             "JSON nested deeper than " + std::to_string(kMaxJsonDepth));
    } else if (check.exceeded == AdmissionError::TooManyElements) {
      out.rejection =
          reject(AdmissionError::TooManyElements,
                 "JSON document over " + std::to_string(kMaxJsonElements) + " elements or " +
                     std::to_string(kMaxDecodedBytes) + " bytes decoded");
    } else {
      out.rejection = reject(AdmissionError::MalformedJson, "request body is not valid JSON");
    }
    return out;
  }
  json review = json::parse(body, nullptr, false);
  if (review.is_discarded()) {
    out.rejection = reject(AdmissionError::MalformedJson, "request body is not valid JSON");
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
    if (!decision.patch.is_array()) throw std::logic_error("patch is not a JSON array");
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
  result.body = dump(response_review(request, decision, result));
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
                                  std::size_t body_limit) noexcept {
  try {
    return decode(content_type, body, body_limit);
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
    DecodedAdmission decoded = decode(content_type, body, body_limit);
    if (!decoded.request) return std::move(decoded.rejection);
    return answer(*decoded.request, decide);
  } catch (...) {
    return out_of_memory();
  }
}

}  // namespace gtoken::webhook
