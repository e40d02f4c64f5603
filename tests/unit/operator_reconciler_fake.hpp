#pragma once
// Scripted fakes of the reconciler's IO (operator/reconcile_io.hpp) for unit
// tests: FakeKube keeps objects in maps and behaves like the apiserver for
// the calls the reconciler makes (resourceVersion checks on status, apply
// and merge patches; JSON Patch `test`s; delete preconditions), records
// every call in order, and throws a scripted error for the Nth call of a
// kind. FakeGoogle does the same for the three IAM calls.

#include <algorithm>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "kube/errors.hpp"
#include "operator/google.hpp"
#include "operator/reconcile_io.hpp"

namespace fake {

using nlohmann::json;

inline kube::ApiError api_error(int code, const std::string& reason) {
  kube::Status s;
  s.code = code;
  s.status = "Failure";
  s.reason = reason;
  s.message = reason;
  return kube::ApiError(s);
}

class FakeKube final : public gtoken::KubeIo {
 public:
  // calls: "get serviceaccounts/ksa", "create serviceaccounts/ksa",
  // "apply serviceaccounts/ksa", "patch-json serviceaccounts/ksa",
  // "patch-merge awsrolebindings/b", "delete serviceaccounts/ksa",
  // "status awsrolebindings/b", "list pods", "event REASON".
  std::vector<std::string> calls;
  std::vector<json> events;
  // The `nth` call (as in `calls`, counted since clear_calls) that fails
  // with `error`; each entry fires once.
  struct Failure {
    std::string call;
    int nth;
    kube::ApiError error;
  };
  std::deque<Failure> failures;
  void fail(const std::string& call, const kube::ApiError& error, int nth = 1) {
    failures.push_back({call, nth, error});
  }

  void put(const std::string& plural, json obj) {
    if (!obj["metadata"].contains("resourceVersion"))
      obj["metadata"]["resourceVersion"] = next_rv();
    const std::string name = obj["metadata"]["name"];
    objects_[plural][name] = std::move(obj);
  }
  json* find(const std::string& plural, const std::string& name) {
    auto& m = objects_[plural];
    auto it = m.find(name);
    return it == m.end() ? nullptr : &it->second;
  }
  // Every stored object of a kind (what an informer would have listed).
  std::vector<json> all(const std::string& plural) {
    std::vector<json> out;
    for (const auto& [name, obj] : objects_[plural]) out.push_back(obj);
    return out;
  }
  void clear_calls() {
    calls.clear();
    events.clear();
    patches.clear();
    statuses.clear();
    deletes.clear();
    list_options.clear();
  }

  std::optional<json> get_opt(const kube::Resource& r, const std::string&,
                              const std::string& name) override {
    record("get " + r.plural + "/" + name);
    json* o = find(r.plural, name);
    if (!o) return std::nullopt;
    return *o;
  }
  json create(const kube::Resource& r, const std::string& ns, const json& obj) override {
    const std::string name = obj["metadata"].value("name", "");
    record("create " + r.plural + "/" + name);
    if (find(r.plural, name)) throw api_error(409, "AlreadyExists");
    json o = obj;
    o["metadata"]["namespace"] = ns;
    o["metadata"]["uid"] = "uid-" + name + "-" + next_rv();
    o["metadata"]["resourceVersion"] = next_rv();
    put(r.plural, o);
    return o;
  }
  json apply(const kube::Resource& r, const std::string& ns, const json& obj) override {
    const std::string name = obj["metadata"].value("name", "");
    record("apply " + r.plural + "/" + name);
    json* o = find(r.plural, name);
    if (!o) {
      json created = obj;
      created["metadata"].erase("resourceVersion");
      return create(r, ns, created);
    }
    check_rv(*o, obj["metadata"].value("resourceVersion", ""));
    const json annotations = obj["metadata"].value("annotations", json::object());
    for (const auto& [k, v] : annotations.items()) {
      (*o)["metadata"]["annotations"][k] = v;
    }
    (*o)["metadata"]["resourceVersion"] = next_rv();
    return *o;
  }
  json patch(const kube::Resource& r, const std::string&, const std::string& name,
             kube::PatchType type, const json& body) override {
    record((type == kube::PatchType::Json ? "patch-json " : "patch-merge ") + r.plural + "/" +
           name);
    patches.push_back(body);
    json* o = find(r.plural, name);
    if (!o) throw api_error(404, "NotFound");
    if (type == kube::PatchType::Json) {
      try {
        *o = o->patch(body);
      } catch (const json::exception&) {
        throw api_error(422, "Invalid");  // a failed `test`
      }
    } else {
      if (body["metadata"].contains("resourceVersion")) {
        check_rv(*o, body["metadata"]["resourceVersion"].get<std::string>());
      }
      json b = body;
      b["metadata"].erase("resourceVersion");
      o->merge_patch(b);
    }
    (*o)["metadata"]["resourceVersion"] = next_rv();
    return *o;
  }
  json remove(const kube::Resource& r, const std::string&, const std::string& name,
              const kube::DeleteOptions& d) override {
    record("delete " + r.plural + "/" + name);
    deletes.push_back(d);
    json* o = find(r.plural, name);
    if (!o) throw api_error(404, "NotFound");
    if ((d.precondition_uid && *d.precondition_uid != (*o)["metadata"].value("uid", "")) ||
        (d.precondition_resource_version &&
         *d.precondition_resource_version != (*o)["metadata"].value("resourceVersion", ""))) {
      throw api_error(409, "Conflict");
    }
    objects_[r.plural].erase(name);
    return json{{"kind", "Status"}, {"status", "Success"}};
  }
  json update_status(const kube::Resource& r, const std::string&, const json& obj) override {
    const std::string name = obj["metadata"].value("name", "");
    record("status " + r.plural + "/" + name);
    statuses.push_back(obj.value("status", json::object()));
    json* o = find(r.plural, name);
    if (!o) throw api_error(404, "NotFound");
    check_rv(*o, obj["metadata"].value("resourceVersion", ""));
    (*o)["status"] = obj.value("status", json::object());
    (*o)["metadata"]["resourceVersion"] = next_rv();
    return *o;
  }
  json list_all(const kube::Resource& r, const std::string&, const kube::ListOptions& o) override {
    record("list " + r.plural);
    list_options.push_back(o);
    json items = json::array();
    for (const auto& [name, obj] : objects_[r.plural]) items.push_back(obj);
    return {{"items", items}};
  }
  void event(const std::string&, const json& ev) override {
    record("event " + ev.value("reason", ""));
    events.push_back(ev);
  }

  std::vector<json> patches;
  std::vector<json> statuses;  // every status body sent, in order
  std::vector<kube::DeleteOptions> deletes;
  std::vector<kube::ListOptions> list_options;

 private:
  void record(const std::string& call) {
    calls.push_back(call);
    const auto seen = std::count(calls.begin(), calls.end(), call);
    for (auto it = failures.begin(); it != failures.end(); ++it) {
      if (it->call == call && it->nth == seen) {
        kube::ApiError e = it->error;
        failures.erase(it);
        throw e;
      }
    }
  }
  void check_rv(const json& o, const std::string& rv) {
    if (!rv.empty() && rv != o["metadata"].value("resourceVersion", "")) {
      throw api_error(409, "Conflict");
    }
  }
  std::string next_rv() { return std::to_string(++rv_); }
  std::map<std::string, std::map<std::string, json>> objects_;
  int rv_ = 100;
};

class FakeGoogle {
 public:
  // calls: "get EMAIL under PROJECT", "getIamPolicy EMAIL", "setIamPolicy EMAIL".
  std::vector<std::string> calls;
  std::map<std::string, json> gsas;      // email -> serviceAccounts.get answer
  std::map<std::string, json> policies;  // email -> IAM policy
  // A call (as in `calls`) that fails with the error, each entry once, in order.
  std::deque<std::pair<std::string, gtoken::GoogleError>> failures;

  gtoken::GoogleIo io() {
    gtoken::GoogleIo g;
    g.get_service_account = [this](const std::string& email, const std::string& project) {
      record("get " + email + " under " + project);
      auto it = gsas.find(email);
      if (it == gsas.end()) {
        // Google's answer for a GSA that does not exist: 403 under "-".
        if (project == "-") throw gtoken::GoogleError(403, "PERMISSION_DENIED", "denied");
        throw gtoken::GoogleError(404, "NOT_FOUND", "not found");
      }
      return it->second;
    };
    g.get_iam_policy = [this](const std::string& email) {
      record("getIamPolicy " + email);
      auto it = policies.find(email);
      return it == policies.end() ? json{{"etag", "e0"}, {"version", 3}} : it->second;
    };
    g.set_iam_policy = [this](const std::string& email, const json& policy) {
      record("setIamPolicy " + email);
      json p = policy;
      p["etag"] = "e" + std::to_string(++etag_);
      policies[email] = p;
      return p;
    };
    return g;
  }
  void clear_calls() { calls.clear(); }

 private:
  void record(const std::string& call) {
    calls.push_back(call);
    for (auto it = failures.begin(); it != failures.end(); ++it) {
      if (it->first == call) {
        gtoken::GoogleError e = it->second;
        failures.erase(it);
        throw e;
      }
    }
  }
  int etag_ = 0;
};

}  // namespace fake
