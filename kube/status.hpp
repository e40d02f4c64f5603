#pragma once
// The one builder of a Kubernetes Status body (metav1.Status) for a failed
// request: what the apiserver itself answers, and what gtoken's webhook
// answers on its own errors (404, 405, 413, an unreadable AdmissionReview, a
// handler that failed), so clients that decode Status (kubectl, client-go,
// the apiserver's webhook client) read ours the same way. kube/errors.hpp
// reads them.
//
// Pure; part of gtoken_base.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kube {

// {"apiVersion":"v1","kind":"Status","metadata":{},"status":"Failure",
//  "code":CODE,"reason":REASON,"message":MESSAGE}
nlohmann::json failure_status(int code, std::string_view reason, std::string_view message);

// failure_status as JSON text; bytes of `message` that are not UTF-8 are
// replaced, never thrown on (messages may quote what a client sent).
std::string failure_status_body(int code, std::string_view reason, std::string_view message);

}  // namespace kube
