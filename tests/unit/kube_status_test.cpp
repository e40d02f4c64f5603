// kube/status: the one builder of a metav1.Status failure body, read back by
// kube/errors as a client would.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "kube/errors.hpp"
#include "kube/status.hpp"

using json = nlohmann::json;

TEST_CASE("a failure Status carries what the apiserver's does") {
  const json s = kube::failure_status(404, "NotFound", "no such path");
  CHECK(s == json{{"apiVersion", "v1"},
                  {"kind", "Status"},
                  {"metadata", json::object()},
                  {"status", "Failure"},
                  {"code", 404},
                  {"reason", "NotFound"},
                  {"message", "no such path"}});
}

TEST_CASE("the body decodes as the Status it was built from") {
  const auto e = kube::error_from_response(
      413, kube::failure_status_body(413, "RequestEntityTooLarge", "body over 3 MiB"));
  CHECK(e.code() == 413);
  CHECK(e.reason() == "RequestEntityTooLarge");
  CHECK(e.status().status == "Failure");
  CHECK(e.status().message == "body over 3 MiB");
}

TEST_CASE("a message with quotes, control bytes or bad UTF-8 still gives valid JSON") {
  // The string-built body this replaced broke on a quote in the message.
  const std::string body =
      kube::failure_status_body(400, "BadRequest", "field \"x\" is\nwrong: \xff\xfe");
  const json j = json::parse(body);  // throws if not JSON
  CHECK(j["code"] == 400);
  CHECK(j["message"].get<std::string>().rfind("field \"x\" is\nwrong: ", 0) == 0);
  CHECK(body.find('\n') == std::string::npos);  // escaped: one line
}
