#include "kube/status.hpp"

namespace kube {

nlohmann::json failure_status(int code, std::string_view reason, std::string_view message) {
  return {{"apiVersion", "v1"},
          {"kind", "Status"},
          {"metadata", nlohmann::json::object()},
          {"status", "Failure"},
          {"code", code},
          {"reason", std::string(reason)},
          {"message", std::string(message)}};
}

std::string failure_status_body(int code, std::string_view reason, std::string_view message) {
  return failure_status(code, reason, message)
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace kube
