#include "webhook/routes.hpp"

#include <atomic>
#include <chrono>

#include "kube/log_fields.hpp"
#include "kube/metrics.hpp"
#include "kube/status.hpp"

namespace gtoken::webhook {

namespace {

using Steady = std::chrono::steady_clock;

// Sub-millisecond buckets: a cache hit decides in tens of microseconds.
constexpr double kAdmissionBuckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
constexpr kube::MetricFamily kAdmissionDuration{
    "gtoken_webhook_admission_duration_seconds", kube::MetricType::histogram,
    "time to answer one AdmissionReview, from the body read to the answer built",
    kAdmissionBuckets};
constexpr kube::MetricFamily kAdmissions{
    "gtoken_webhook_admissions_total", kube::MetricType::counter,
    "AdmissionReviews by outcome (patched, skipped, denied, error) and reason "
    "(skip reason or request error)"};
constexpr kube::MetricFamily kBindingReviews{
    "gtoken_webhook_binding_reviews_total", kube::MetricType::counter,
    "AwsRoleBinding AdmissionReviews at /validate by outcome (allowed, denied, error)"};
constexpr kube::MetricFamily kHttpRequests{"gtoken_webhook_http_requests_total",
                                           kube::MetricType::counter,
                                           "HTTP requests by path and status"};
constexpr kube::MetricFamily kLookupPoolRejections{
    "gtoken_webhook_lookup_pool_rejections_total", kube::MetricType::counter,
    "admissions answered 500 by the lookup pool, by reason (queue_full, deadline)"};

HttpResponseData status_json(int code, const std::string& reason, const std::string& message) {
  return {code, "application/json", kube::failure_status_body(code, reason, message)};
}

// The path without the query.
std::string path_of(const std::string& target) {
  return target.substr(0, target.find('?'));
}

bool known_path(const std::string& path) {
  return path == "/mutate" || path == "/validate" || path == "/healthz" || path == "/livez" ||
         path == "/readyz";
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

// What the log line says about the object under review.
struct Seen {
  std::string namespace_;
  std::string name;
};

Seen seen_of(const AdmissionRequest& r) {
  Seen seen{r.namespace_, r.name};
  if (seen.name.empty()) {
    const auto& object = r.object();
    if (object.is_object() && object.contains("metadata") && object["metadata"].is_object() &&
        object["metadata"].value("generateName", nlohmann::json()).is_string()) {
      seen.name = object["metadata"].value("generateName", "") + "*";
    }
  }
  return seen;
}

// The answer for a request `decide` could not be asked about (pool full, or
// past its deadline): the 500 of a failed decision, echoing the uid.
AdmissionHttpResult failed(const AdmissionRequest& request, const std::string& why) {
  return answer_admission(
      request, [&](const AdmissionRequest&) -> Decision { throw std::runtime_error(why); });
}

class Routes : public std::enable_shared_from_this<Routes> {
 public:
  explicit Routes(RoutesEnv env) : env_(std::move(env)) {}

  void operator()(HttpRequestData request, Respond respond) {
    const std::string path = path_of(request.target);
    if (path == "/mutate") {
      if (request.method != "POST") {
        return reply(path, status_json(405, "MethodNotAllowed", "POST an AdmissionReview"),
                     respond);
      }
      return mutate(std::move(request), std::move(respond));
    }
    if (path == "/validate" && env_.validate) {
      if (request.method != "POST") {
        return reply(path, status_json(405, "MethodNotAllowed", "POST an AdmissionReview"),
                     respond);
      }
      return validate(request, respond);
    }
    if (path == "/healthz" || path == "/livez") {
      return reply(path, {200, "text/plain; charset=utf-8", "ok\n"}, respond);
    }
    if (path == "/readyz") {
      const std::string why = env_.not_ready_reason ? env_.not_ready_reason() : "";
      return reply(path,
                   why.empty() ? HttpResponseData{200, "text/plain; charset=utf-8", "ok\n"}
                               : HttpResponseData{503, "text/plain; charset=utf-8",
                                                  "not ready: " + why + "\n"},
                   respond);
    }
    reply(path, status_json(404, "NotFound", "no such path"), respond);
  }

 private:
  void reply(const std::string& path, HttpResponseData response, const Respond& respond) {
    if (env_.metrics) {
      env_.metrics->inc(kHttpRequests, {{"path", known_path(path) ? path : "other"},
                                        {"code", std::to_string(response.status)}});
    }
    respond(std::move(response));
  }

  // By value: the body moves on into the response, no copy.
  void finish(AdmissionHttpResult result, const Seen& seen, Steady::time_point start,
              const Respond& respond) {
    const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
    record(result, seen, seconds);
    reply("/mutate",
          {result.status, std::string(AdmissionHttpResult::kContentType), std::move(result.body)},
          respond);
  }

  // The server did not read the body; the answer is the one handle_admission
  // gives for an oversized body.
  AdmissionHttpResult too_large() const {
    AdmissionHttpResult result;
    result.status = 413;
    result.error = AdmissionError::BodyTooLarge;
    result.body = status_json(413, "RequestEntityTooLarge",
                              "BodyTooLarge: request body exceeds " +
                                  std::to_string(env_.body_limit) + " bytes")
                      .body;
    return result;
  }

  void mutate(HttpRequestData request, Respond respond) {
    const auto start = Steady::now();
    if (request.body_too_large) {
      return finish(too_large(), {}, start, respond);
    }
    // Only what the pod review reads (webhook/pod_view.hpp), in one pass.
    DecodedAdmission decoded = decode_admission(request.content_type, request.body,
                                                env_.body_limit, AdmissionDecoding::PodView);
    std::string().swap(request.body);  // decoded now; do not hold both
    if (!decoded.request) return finish(std::move(decoded.rejection), {}, start, respond);
    auto admission = std::make_shared<const AdmissionRequest>(std::move(*decoded.request));
    const Seen seen = seen_of(*admission);

    if (env_.decide_cached) {
      bool deferred = false;
      AdmissionHttpResult result =
          answer_admission(*admission, [&](const AdmissionRequest& r) {
            std::optional<Decision> d = env_.decide_cached(r);
            if (!d) {
              deferred = true;
              return Decision{};
            }
            return std::move(*d);
          });
      if (!deferred) return finish(std::move(result), seen, start, respond);
    }
    if (!env_.pool) return finish(answer_admission(*admission, env_.decide), seen, start, respond);

    // Off the I/O thread. The first of `work` and `expired` answers.
    auto once = std::make_shared<std::atomic<bool>>(false);
    auto self = shared_from_this();
    auto work = [self, admission, seen, start, respond, once] {
      AdmissionHttpResult result = answer_admission(*admission, self->env_.decide);
      if (!once->exchange(true)) self->finish(std::move(result), seen, start, respond);
    };
    auto expired = [self, admission, seen, start, respond, once] {
      if (once->exchange(true)) return;
      if (self->env_.metrics) {
        self->env_.metrics->inc(kLookupPoolRejections, {{"reason", "deadline"}});
      }
      self->finish(failed(*admission, "lookup did not finish within its deadline"), seen, start,
                   respond);
    };
    if (!env_.pool->submit(std::move(work), std::move(expired))) {
      if (env_.metrics) {
        env_.metrics->inc(kLookupPoolRejections, {{"reason", "queue_full"}});
      }
      finish(failed(*admission, "lookup queue full"), seen, start, respond);
    }
  }

  void validate(const HttpRequestData& request, const Respond& respond) {
    const auto start = Steady::now();
    AdmissionHttpResult result;
    Seen seen;
    if (request.body_too_large) {
      result = too_large();
    } else {
      DecodedAdmission decoded =
          decode_admission(request.content_type, request.body, env_.body_limit);
      if (!decoded.request) {
        result = std::move(decoded.rejection);
      } else {
        seen = seen_of(*decoded.request);
        result = answer_admission(*decoded.request, env_.validate);
      }
    }
    const std::string outcome = result.error ? "error" : result.allowed ? "allowed" : "denied";
    if (env_.metrics) {
      env_.metrics->inc(kBindingReviews, {{"outcome", outcome}});
    }
    if (env_.log) {
      nlohmann::json fields = {
          {"uid", result.uid},
          {"namespace", seen.namespace_},
          {"binding", seen.name},
          {"outcome", outcome},
          {"latencyMs", std::chrono::duration<double>(Steady::now() - start).count() * 1000}};
      if (result.error) fields["reason"] = std::string(to_string(*result.error));
      env_.log->log(result.error || !result.allowed ? kube::LogLevel::info : kube::LogLevel::debug,
                    "binding review", fields);
    }
    reply("/validate",
          {result.status, std::string(AdmissionHttpResult::kContentType), std::move(result.body)},
          respond);
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
      env_.metrics->observe(kAdmissionDuration, seconds, {{"outcome", outcome}});
      env_.metrics->inc(kAdmissions, {{"outcome", outcome},
                                      {"reason", reason},
                                      {"dry_run", result.dry_run ? "true" : "false"}});
    }
    if (!env_.log) return;
    kube::LogLevel level = kube::LogLevel::info;
    if (result.error) {
      level = *result.error == AdmissionError::DecisionFailed ? kube::LogLevel::error
                                                              : kube::LogLevel::warn;
    } else if (result.skip && routine_skip(*result.skip)) {
      level = kube::LogLevel::debug;
    }
    if (!env_.log->enabled(level)) return;
    // Written as text: this line is logged for every admission.
    kube::LogFields fields;
    fields.add_bool("dryRun", result.dry_run)
        .add_number("latencyMs", seconds * 1000)
        .add("namespace", seen.namespace_)
        .add("outcome", outcome);
    if (result.patch_operations) {
      fields.add_int("patchOperations", static_cast<std::int64_t>(result.patch_operations));
    }
    fields.add("pod", seen.name);
    if (!reason.empty()) fields.add("reason", reason);
    fields.add("uid", result.uid);
    env_.log->log_text(level, "admission", fields.text());
  }

  RoutesEnv env_;
};

}  // namespace

void describe_routes_metrics(kube::Metrics& metrics) {
  for (const auto* f : {&kAdmissionDuration, &kAdmissions, &kBindingReviews, &kHttpRequests,
                        &kLookupPoolRejections}) {
    metrics.describe(*f);
  }
}

RequestHandler make_routes(RoutesEnv env) {
  auto routes = std::make_shared<Routes>(std::move(env));
  return [routes](HttpRequestData request, Respond respond) {
    (*routes)(std::move(request), std::move(respond));
  };
}

RequestHandler make_metrics_routes(std::shared_ptr<kube::Metrics> metrics,
                                   std::function<void()> refresh) {
  return [metrics, refresh](HttpRequestData request, Respond respond) {
    if (path_of(request.target) != "/metrics") {
      return respond(status_json(404, "NotFound", "no such path (this port serves /metrics)"));
    }
    if (request.method != "GET" && request.method != "HEAD") {
      return respond(status_json(405, "MethodNotAllowed", "GET /metrics"));
    }
    if (refresh) refresh();
    respond({200, "text/plain; version=0.0.4; charset=utf-8",
             metrics ? metrics->render() : std::string()});
  };
}

}  // namespace gtoken::webhook
