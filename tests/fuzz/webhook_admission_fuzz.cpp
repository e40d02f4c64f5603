// libFuzzer target: arbitrary bytes into handle_admission, with the real pod
// decision behind it, so mutate_pod sees whatever pods the fuzzer can build.
//
// Beyond "no crash, no sanitizer report", it checks what must hold for every
// input: the answer is JSON; a 200 echoes the uid; every patch applies to the
// pod it was made for; mutating the patched pod again changes nothing; and
// decoding only the pod view (/mutate's fast path) gives the same answer.
//
// An input starting with "CT:" sets the content type up to the first newline,
// so the pre-decode checks are fuzzed too. Seeds: tests/fuzz/corpus/webhook_admission/.
//
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DGTOKEN_FUZZ=ON
//   cmake --build build-fuzz --target webhook_admission_fuzz
//   build-fuzz/webhook/webhook_admission_fuzz -max_total_time=20 \
//       -dict=tests/fuzz/webhook_admission.dict tests/fuzz/corpus/webhook_admission

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "webhook/admission.hpp"
#include "webhook/mutate.hpp"
#include "webhook/pod_review.hpp"

namespace {

using gtoken::webhook::AdmissionRequest;
using gtoken::webhook::Decision;
using nlohmann::json;

// Small, so the 413 path is reachable from small inputs.
constexpr std::size_t kBodyLimit = 64 * 1024;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "property violated: %s\n", what);
  __builtin_trap();
}

gtoken::webhook::PodReviewEnv make_env(bool native_sidecars) {
  gtoken::webhook::PodReviewEnv env;
  env.operator_namespace = "gtoken-system";
  env.config.native_sidecars = native_sidecars;
  env.namespace_labels = [](const std::string& ns) -> std::optional<json> {
    if (ns == "ignored") return json{{"admission.gtoken/ignore", ""}};
    return std::nullopt;
  };
  env.service_account = [](const std::string& ns,
                           const std::string& name) -> std::optional<gtoken::webhook::SaSettings> {
    if (name == "missing") return std::nullopt;
    gtoken::webhook::SaSettings sa;
    if (name == "unbound") return sa;
    sa.role_arn = "arn:aws:iam::123456789012:role/fuzz";
    if (ns.size() % 2 == 1) sa.region = "eu-west-1";
    if (name == "allow") sa.containers = {"app", "init"};
    if (name == "bad-region") sa.region = "Not A Region";
    // The Kubernetes token source (projected token, no agent).
    if (name.starts_with("eks")) {
      sa.token_source = gtoken::webhook::TokenSource::Kubernetes;
      if (ns.size() % 3 == 0) sa.sts_regional_endpoints = ns.size() % 2 == 0;
    }
    return sa;
  };
  std::uint32_t state = 12345;
  env.random = [state]() mutable {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  return env;
}

// The same names review_pod derives; only called once it patched, so the
// object and its spec are objects.
std::string namespace_of(const AdmissionRequest& request) {
  if (!request.namespace_.empty()) return request.namespace_;
  const json& metadata = request.object().value("metadata", json::object());
  const auto ns = metadata.find("namespace");
  return ns != metadata.end() && ns->is_string() ? ns->get<std::string>() : std::string{};
}

std::string service_account_of(const json& pod) {
  const json& spec = pod.at("spec");
  for (const char* key : {"serviceAccountName", "serviceAccount"}) {
    const auto it = spec.find(key);
    if (it != spec.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      return it->get<std::string>();
    }
  }
  return "default";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view content_type = "application/json";
  if (input.starts_with("CT:")) {
    const auto newline = input.find('\n');
    content_type = input.substr(3, newline == std::string_view::npos ? 0 : newline - 3);
    input.remove_prefix(newline == std::string_view::npos ? input.size() : newline + 1);
  }

  const auto decide = [](const AdmissionRequest& request) {
    const auto env = make_env(request.uid.size() % 2 == 0);
    Decision decision = gtoken::webhook::review_pod(request, env);
    if (decision.patch.empty()) return decision;
    json patched;
    try {
      patched = request.object().patch(json::parse(decision.patch.json));
    } catch (const json::exception&) {
      fail("patch does not apply to its own pod");
    }
    // A patch means review_pod found the settings under these same names.
    const auto settings = env.service_account(namespace_of(request), service_account_of(patched));
    if (!settings) fail("patched without settings");
    const auto again = gtoken::webhook::mutate_pod(patched, namespace_of(request), *settings,
                                                   env.config, env.random);
    if (!again.patch.empty()) fail("second mutation is not empty");
    return decision;
  };

  const auto result = gtoken::webhook::handle_admission(content_type, input, kBodyLimit, decide);
  // /mutate's fast path (the pod view) answers every input with the same bytes.
  const auto decoded = gtoken::webhook::decode_admission(
      content_type, input, kBodyLimit, gtoken::webhook::AdmissionDecoding::PodView);
  const auto view = decoded.request ? gtoken::webhook::answer_admission(*decoded.request, decide)
                                    : decoded.rejection;
  if (view.status != result.status || view.body != result.body) {
    fail("the pod view answers otherwise than the whole document");
  }
  const json body = json::parse(result.body, nullptr, false);
  if (body.is_discarded()) fail("answer is not JSON");
  if (result.status == 200) {
    if (body["response"]["uid"] != result.uid) fail("uid not echoed");
    for (const auto& w : body["response"].value("warnings", json::array())) {
      if (w.get<std::string>().size() >= 120) fail("warning too long");
    }
  }
  return 0;
}
