#include "kube/client.hpp"

#include "kube/errors.hpp"

namespace kube {

namespace {

// Builds "?a=b&c=d" from the non-empty pairs.
class Query {
 public:
  Query& add(const std::string& k, const std::string& v) {
    if (v.empty()) return *this;
    s_ += s_.empty() ? '?' : '&';
    s_ += k + "=" + url_encode(v);
    return *this;
  }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

std::string content_type_of(PatchType t) {
  switch (t) {
    case PatchType::Merge: return "application/merge-patch+json";
    case PatchType::Json: return "application/json-patch+json";
    case PatchType::Strategic: return "application/strategic-merge-patch+json";
    case PatchType::Apply: return "application/apply-patch+yaml";
  }
  return "application/json";
}

std::string name_of(const json& obj) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object() ||
      !obj["metadata"].contains("name")) {
    throw std::invalid_argument("object has no metadata.name");
  }
  const json& name = obj["metadata"]["name"];
  if (!name.is_string()) throw InvalidName("name", "", "metadata.name must be a string");
  return name.get<std::string>();
}

// Objects carry input (pod specs, annotations, status messages): an
// ill-formed UTF-8 byte in a string must not make the request throw
// json::type_error, so it is sent as U+FFFD.
std::string dump_body(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

Client::Client(std::shared_ptr<HttpClient> http, std::string field_manager)
    : http_(std::move(http)), field_manager_(std::move(field_manager)) {}

json Client::call(const std::string& method, const std::string& target, const std::string& body,
                  const std::string& content_type) {
  HttpRequest req;
  req.method = method;
  req.target = target;
  req.headers.emplace_back("Accept", "application/json");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.headers.emplace_back("Content-Type", content_type);
  }
  req.body = body;
  HttpResponse res = http_->request(req);
  if (res.status < 200 || res.status >= 300) throw error_from_response(res.status, res.body);
  if (res.body.empty()) return json::object();
  auto j = json::parse(res.body, nullptr, false);
  if (j.is_discarded()) {
    throw NetworkError(method + " " + target + ": response is not JSON (HTTP " +
                       std::to_string(res.status) + ")");
  }
  return j;
}

json Client::get(const Resource& r, const std::string& ns, const std::string& name,
                 const std::string& subresource) {
  return call("GET", r.object_path(ns, name, subresource), "", "");
}

json Client::list(const Resource& r, const std::string& ns, const ListOptions& o) {
  Query q;
  q.add("labelSelector", o.label_selector)
      .add("fieldSelector", o.field_selector)
      .add("limit", o.limit > 0 ? std::to_string(o.limit) : "")
      .add("continue", o.continue_token)
      .add("resourceVersion", o.continue_token.empty() ? o.resource_version : "");
  return call("GET", r.path(ns) + q.str(), "", "");
}

json Client::list_all(const Resource& r, const std::string& ns, ListOptions o) {
  json all = list(r, ns, o);
  if (!all.contains("items") || all["items"].is_null()) all["items"] = json::array();
  while (all.contains("metadata") && !all["metadata"].value("continue", "").empty()) {
    o.continue_token = all["metadata"]["continue"].get<std::string>();
    json page = list(r, ns, o);
    if (page.contains("items") && page["items"].is_array()) {
      for (auto& item : page["items"]) all["items"].push_back(std::move(item));
    }
    all["metadata"]["continue"] = page["metadata"].value("continue", "");
  }
  if (all.contains("metadata")) all["metadata"].erase("continue");
  return all;
}

json Client::create(const Resource& r, const std::string& ns, const json& obj,
                    const WriteOptions& o) {
  Query q;
  q.add("dryRun", o.dry_run ? "All" : "")
      .add("fieldManager", o.field_manager.empty() ? field_manager_ : o.field_manager);
  return call("POST", r.path(ns) + q.str(), dump_body(obj), "application/json");
}

json Client::update(const Resource& r, const std::string& ns, const json& obj,
                    const WriteOptions& o) {
  Query q;
  q.add("dryRun", o.dry_run ? "All" : "")
      .add("fieldManager", o.field_manager.empty() ? field_manager_ : o.field_manager);
  return call("PUT", r.object_path(ns, name_of(obj)) + q.str(), dump_body(obj), "application/json");
}

json Client::update_status(const Resource& r, const std::string& ns, const json& obj,
                           const WriteOptions& o) {
  Query q;
  q.add("dryRun", o.dry_run ? "All" : "")
      .add("fieldManager", o.field_manager.empty() ? field_manager_ : o.field_manager);
  return call("PUT", r.object_path(ns, name_of(obj), "status") + q.str(), dump_body(obj),
              "application/json");
}

json Client::patch(const Resource& r, const std::string& ns, const std::string& name,
                   PatchType type, const json& body, const PatchOptions& o) {
  Query q;
  std::string manager = o.field_manager.empty() ? field_manager_ : o.field_manager;
  q.add("fieldManager", manager)
      .add("force", type == PatchType::Apply && o.force ? "true" : "")
      .add("dryRun", o.dry_run ? "All" : "");
  return call("PATCH", r.object_path(ns, name, o.subresource) + q.str(), dump_body(body),
              content_type_of(type));
}

json Client::apply(const Resource& r, const std::string& ns, const json& obj, bool force,
                   const std::string& subresource, const std::string& field_manager) {
  json body = obj;
  if (!body.contains("apiVersion")) body["apiVersion"] = r.api_version();
  if (!body.contains("kind")) body["kind"] = r.kind;
  PatchOptions o;
  o.force = force;
  o.subresource = subresource;
  o.field_manager = field_manager;
  return patch(r, ns, name_of(body), PatchType::Apply, body, o);
}

json Client::remove(const Resource& r, const std::string& ns, const std::string& name,
                    const DeleteOptions& o) {
  json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (o.precondition_uid || o.precondition_resource_version) {
    json pre = json::object();
    if (o.precondition_uid) pre["uid"] = *o.precondition_uid;
    if (o.precondition_resource_version) pre["resourceVersion"] = *o.precondition_resource_version;
    body["preconditions"] = pre;
  }
  if (!o.propagation_policy.empty()) body["propagationPolicy"] = o.propagation_policy;
  if (o.grace_period_seconds) body["gracePeriodSeconds"] = *o.grace_period_seconds;
  if (o.dry_run) body["dryRun"] = json::array({"All"});
  return call("DELETE", r.object_path(ns, name), dump_body(body), "application/json");
}

void Client::watch(const Resource& r, const std::string& ns, const WatchOptions& o,
                   const std::function<bool(const WatchEvent&)>& on_event, CancelToken* cancel) {
  Query q;
  q.add("watch", "1")
      .add("resourceVersion", o.resource_version)
      .add("labelSelector", o.label_selector)
      .add("fieldSelector", o.field_selector)
      .add("allowWatchBookmarks", o.allow_bookmarks ? "true" : "")
      .add("timeoutSeconds", o.timeout_seconds > 0 ? std::to_string(o.timeout_seconds) : "");
  HttpRequest req;
  req.method = "GET";
  req.target = r.path(ns) + q.str();
  req.headers.emplace_back("Accept", "application/json");
  // Between two events the apiserver sends bookmarks about once a minute;
  // give the whole watch window plus slack before calling the stream dead.
  auto idle = std::chrono::seconds(o.timeout_seconds > 0 ? o.timeout_seconds + 30 : 330);
  HttpResponse res = http_->stream_lines(
      req,
      [&](std::string_view line) {
        auto j = json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          throw NetworkError("watch " + req.target + ": undecodable event line");
        }
        WatchEvent ev{j.value("type", ""), j.contains("object") ? j["object"] : json::object()};
        return on_event(ev);
      },
      idle, cancel);
  if (res.status != 0 && (res.status < 200 || res.status >= 300)) {
    throw error_from_response(res.status, res.body);
  }
}

json Client::version() { return call("GET", "/version", "", ""); }

json Client::oidc_discovery() { return call("GET", "/.well-known/openid-configuration", "", ""); }

}  // namespace kube
