#include "webhook/routes.hpp"

#include <chrono>

#include "kube/metrics.hpp"

namespace gtoken::webhook {

namespace {

HttpResponseData status_json(int code, const std::string& reason, const std::string& message) {
  nlohmann::json body = {
      {"apiVersion", "v1"},  {"kind", "Status"}, {"metadata", nlohmann::json::object()},
      {"status", "Failure"}, {"code", code},     {"reason", reason},
      {"message", message}};
  return {code, "application/json", body.dump()};
}

// The path without the query.
std::string path_of(const std::string& target) {
  return target.substr(0, target.find('?'));
}

// A skip that is the normal case for most pods: logged at debug only (still
// counted with its reason).
bool routine_skip(SkipReason reason) {
  switch (reason) {
    case SkipReason::NoRoleAnnotation:
    case SkipReason::AlreadyInjected:
    case SkipReason::IgnoredNamespace:
    case SkipReason::OperatorNamespace:
    case SkipReason::UnsupportedRequest:
    case SkipReason::PodOptOut:
      return true;
    default:
      return false;
  }
}

class Routes {
 public:
  explicit Routes(RoutesEnv env) : env_(std::move(env)) {}

  HttpResponseData operator()(const HttpRequestData& request) {
    const std::string path = path_of(request.target);
    HttpResponseData response;
    if (path == "/mutate") {
      response = request.method == "POST"
                     ? mutate(request)
                     : status_json(405, "MethodNotAllowed", "POST an AdmissionReview");
    } else if (path == "/healthz" || path == "/livez") {
      response = {200, "text/plain; charset=utf-8", "ok\n"};
    } else if (path == "/readyz") {
      const std::string why = env_.not_ready_reason ? env_.not_ready_reason() : "";
      response = why.empty() ? HttpResponseData{200, "text/plain; charset=utf-8", "ok\n"}
                             : HttpResponseData{503, "text/plain; charset=utf-8",
                                                "not ready: " + why + "\n"};
    } else if (path == "/metrics") {
      if (env_.refresh_metrics) env_.refresh_metrics();
      response = {200, "text/plain; version=0.0.4; charset=utf-8",
                  env_.metrics ? env_.metrics->render() : std::string()};
    } else {
      response = status_json(404, "NotFound", "no such path");
    }
    if (env_.metrics) {
      const bool known = path == "/mutate" || path == "/healthz" || path == "/livez" ||
                         path == "/readyz" || path == "/metrics";
      env_.metrics->inc(
          "gtoken_webhook_http_requests_total",
          {{"path", known ? path : "other"}, {"code", std::to_string(response.status)}});
    }
    return response;
  }

 private:
  struct Seen {
    std::string namespace_;
    std::string name;
    std::string operation;
  };

  HttpResponseData mutate(const HttpRequestData& request) {
    const auto start = std::chrono::steady_clock::now();
    AdmissionHttpResult result;
    Seen seen;
    if (request.body_too_large) {
      // The server did not read it; the answer is the one handle_admission
      // gives for an oversized body.
      result.status = 413;
      result.error = AdmissionError::BodyTooLarge;
      result.body = status_json(413, "RequestEntityTooLarge",
                                "BodyTooLarge: request body exceeds " +
                                    std::to_string(env_.body_limit) + " bytes")
                        .body;
    } else {
      const Decide decide = [&](const AdmissionRequest& r) {
        seen.namespace_ = r.namespace_;
        seen.name = r.name;
        seen.operation = r.operation;
        if (seen.name.empty()) {
          const auto& object = r.object();
          if (object.is_object() && object.contains("metadata") && object["metadata"].is_object()) {
            seen.name = object["metadata"].value("generateName", "") + "*";
          }
        }
        return env_.decide(r);
      };
      result = handle_admission(request.content_type, request.body, env_.body_limit, decide);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    record(result, seen, seconds);
    return {result.status, std::string(AdmissionHttpResult::kContentType), std::move(result.body)};
  }

  void record(const AdmissionHttpResult& result, const Seen& seen, double seconds) {
    std::string outcome;
    std::string reason;
    if (result.error) {
      outcome = "error";
      reason = std::string(to_string(*result.error));
    } else if (!result.allowed) {
      outcome = "denied";
    } else if (result.patch_operations > 0) {
      outcome = "patched";
    } else {
      outcome = "skipped";
      reason = result.skip ? std::string(to_string(*result.skip)) : "NoChange";
    }
    if (env_.metrics) {
      env_.metrics->observe("gtoken_webhook_admission_duration_seconds", seconds,
                            {{"outcome", outcome}});
      env_.metrics->inc("gtoken_webhook_admissions_total",
                        {{"outcome", outcome},
                         {"reason", reason},
                         {"dry_run", result.dry_run ? "true" : "false"}});
    }
    if (!env_.log) return;
    nlohmann::json fields = {{"uid", result.uid},        {"namespace", seen.namespace_},
                             {"pod", seen.name},         {"outcome", outcome},
                             {"dryRun", result.dry_run}, {"latencyMs", seconds * 1000}};
    if (!reason.empty()) fields["reason"] = reason;
    if (result.patch_operations) fields["patchOperations"] = result.patch_operations;
    int level = kInfo;
    if (result.error) {
      level = *result.error == AdmissionError::DecisionFailed ? kError : kWarn;
    } else if (result.skip && routine_skip(*result.skip)) {
      level = kDebug;
    }
    env_.log(level, "admission", fields);
  }

  RoutesEnv env_;
};

}  // namespace

void describe_webhook_metrics(kube::Metrics& m) {
  // Sub-millisecond buckets: a cache hit decides in tens of microseconds.
  m.describe_histogram(
      "gtoken_webhook_admission_duration_seconds",
      "time to answer one AdmissionReview, from the body read to the answer built",
      {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  m.describe("gtoken_webhook_admissions_total", "counter",
             "AdmissionReviews by outcome (patched, skipped, denied, error) and reason "
             "(skip reason or request error)");
  m.describe("gtoken_webhook_http_requests_total", "counter", "HTTP requests by path and status");
  m.describe("gtoken_webhook_service_account_cache_size", "gauge",
             "ServiceAccounts in the webhook's cache");
  m.describe("gtoken_webhook_service_account_cache_misses_total", "counter",
             "ServiceAccount lookups the cache could not answer, by the live read's result "
             "(found, not_found, error)");
  m.describe("gtoken_webhook_namespace_cache_size", "gauge", "Namespaces in the webhook's cache");
  m.describe("gtoken_webhook_certificate_expiry_timestamp_seconds", "gauge",
             "notAfter of the served certificate and of the CA that signed it (Unix seconds)");
  m.describe("gtoken_webhook_certificate_reloads_total", "counter",
             "serving certificates loaded from the Secret, by result");
  m.describe("gtoken_webhook_certificate_rotations_total", "counter",
             "certificate actions taken by the leader, by action");
  m.describe("gtoken_webhook_ready", "gauge", "1 when /readyz answers ok");
}

RequestHandler make_routes(RoutesEnv env) {
  auto routes = std::make_shared<Routes>(std::move(env));
  return [routes](const HttpRequestData& request) { return (*routes)(request); };
}

}  // namespace gtoken::webhook
