#pragma once
// A scripted CertClient: an in-memory apiserver for the Secret, the two
// webhook configurations and the replica Leases, with resourceVersion
// preconditions (a stale update is 409, a create of something existing 409),
// a log of calls, and failures scripted per call name.
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kube/errors.hpp"
#include "webhook/cert_client.hpp"

namespace gtoken::webhook::testing {

class FakeCertClient final : public CertClient {
 public:
  using json = nlohmann::json;

  std::optional<json> secret;
  std::optional<json> mutating;
  std::optional<json> validating;
  std::map<std::string, json> leases;
  std::vector<std::string> calls;
  // Call name -> HTTP codes its next calls fail with, in order.
  std::map<std::string, std::deque<int>> failures;

  json create_secret(const json& obj) override {
    enter("create_secret");
    if (secret) fail(409, "AlreadyExists");
    secret = stored(obj);
    return *secret;
  }
  json update_secret(const json& obj) override {
    enter("update_secret");
    return replace(secret, obj);
  }
  json update_config(WebhookConfigKind kind, const json& obj) override {
    if (kind == WebhookConfigKind::Mutating) {
      enter("update_mutating");
      return replace(mutating, obj);
    }
    enter("update_validating");
    return replace(validating, obj);
  }
  std::optional<json> get_lease(const std::string& name) override {
    enter("get_lease");
    const auto it = leases.find(name);
    if (it == leases.end()) return std::nullopt;
    return it->second;
  }
  json create_lease(const json& obj) override {
    enter("create_lease");
    const std::string name = obj["metadata"]["name"];
    if (leases.contains(name)) fail(409, "AlreadyExists");
    return leases[name] = stored(obj);
  }
  json update_lease(const json& obj) override {
    enter("update_lease");
    const std::string name = obj["metadata"]["name"];
    std::optional<json> current;
    if (leases.contains(name)) current = leases[name];
    const json written = replace(current, obj);
    leases[name] = written;
    return written;
  }
  json list_leases(const std::string& label_selector) override {
    enter("list_leases:" + label_selector);
    json items = json::array();
    for (const auto& [name, lease] : leases) items.push_back(lease);
    return {{"items", items}};
  }
  void delete_lease(const std::string& name) override {
    enter("delete_lease:" + name);
    if (leases.erase(name) == 0) fail(404, "NotFound");
  }

  // Calls since the last take_calls().
  std::vector<std::string> take_calls() {
    std::vector<std::string> out;
    out.swap(calls);
    return out;
  }

  static std::string rv_of(const json& obj) { return obj["metadata"].value("resourceVersion", ""); }

 private:
  int next_rv_ = 100;

  [[noreturn]] static void fail(int code, const std::string& reason) {
    kube::Status s;
    s.code = code;
    s.status = "Failure";
    s.reason = reason;
    s.message = "scripted " + reason;
    throw kube::ApiError(s);
  }

  void enter(const std::string& call) {
    calls.push_back(call);
    auto it = failures.find(call);
    if (it != failures.end() && !it->second.empty()) {
      const int code = it->second.front();
      it->second.pop_front();
      fail(code, code == 409 ? "Conflict" : "InternalError");
    }
  }

  json stored(json obj) {
    obj["metadata"]["resourceVersion"] = std::to_string(++next_rv_);
    return obj;
  }

  json replace(std::optional<json>& current, const json& obj) {
    if (!current) fail(404, "NotFound");
    if (rv_of(obj) != rv_of(*current)) fail(409, "Conflict");
    current = stored(obj);
    return *current;
  }
};

}  // namespace gtoken::webhook::testing
