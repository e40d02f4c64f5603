// Error mapping: Status bodies, non-Status bodies, and watch ERROR objects.
#include <doctest/doctest.h>

#include "kube/errors.hpp"
#include "kube/resource.hpp"

TEST_CASE("a metav1.Status body maps to a typed ApiError") {
  auto e = kube::error_from_response(
      409,
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"Operation cannot be fulfilled on configmaps \"x\": the object has been modified","reason":"Conflict","details":{"name":"x","kind":"configmaps"},"code":409})");
  CHECK(e.code() == 409);
  CHECK(e.is_conflict());
  CHECK_FALSE(e.is_not_found());
  CHECK(e.reason() == "Conflict");
  CHECK(e.status().details["name"] == "x");
  CHECK(std::string(e.what()).find("the object has been modified") != std::string::npos);
}

TEST_CASE("each HTTP class is distinguishable") {
  CHECK(kube::error_from_response(404, "").is_not_found());
  CHECK(kube::error_from_response(403, "").is_forbidden());
  CHECK(kube::error_from_response(410, "").is_gone());
  CHECK(kube::error_from_response(422, "").is_invalid());
  CHECK(kube::error_from_response(503, "").is_server_error());
  CHECK(kube::error_from_response(429, "").is_retryable());
  CHECK_FALSE(kube::error_from_response(400, "").is_retryable());
  auto html = kube::error_from_response(502, "<html>bad gateway</html>");
  CHECK(html.is_server_error());
  CHECK(html.status().message == "<html>bad gateway</html>");
  CHECK(kube::error_from_response(500, "").status().message == "HTTP 500 with no body");
}

TEST_CASE("a watch ERROR event's Status with code 410 is Gone") {
  auto s = kube::status_from_json(nlohmann::json::parse(
      R"J({"kind":"Status","status":"Failure","message":"too old resource version: 5 (90)","reason":"Expired","code":410})J"));
  kube::ApiError e(s);
  CHECK(e.is_gone());
  CHECK(e.code() == 410);
  // "Expired" reason with a missing code still counts as Gone.
  kube::ApiError expired(kube::status_from_json({{"reason", "Expired"}}, 0));
  CHECK(expired.is_gone());
}

TEST_CASE("resource paths") {
  CHECK(kube::resources::config_maps().path("ns", "a") == "/api/v1/namespaces/ns/configmaps/a");
  CHECK(kube::resources::config_maps().path() == "/api/v1/configmaps");
  CHECK(kube::resources::leases().path("kube-system", "x") ==
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x");
  CHECK(kube::resources::namespaces().path("ignored", "n", "status") == "/api/v1/namespaces/n/status");
  CHECK(kube::resources::aws_role_bindings().path("jobs", "b", "status") ==
        "/apis/gtoken.io/v1alpha1/namespaces/jobs/awsrolebindings/b/status");
}
