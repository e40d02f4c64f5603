#pragma once
// Typed REST operations on the Kubernetes API. Objects are nlohmann::json:
// gtoken touches few kinds and only a few fields of each, and JSON keeps
// unknown fields intact on read-modify-write.
//
// Every method throws ApiError for a Kubernetes error answer and
// NetworkError when no answer arrived.

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "kube/http.hpp"
#include "kube/resource.hpp"

namespace kube {

using json = nlohmann::json;

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int limit = 0;                 // 0 = server default (no paging)
  std::string continue_token;    // page cursor
  std::string resource_version;  // "" = most recent (quorum read)
};

struct WatchOptions {
  std::string resource_version;  // start after this version
  std::string label_selector;
  std::string field_selector;
  int timeout_seconds = 300;     // server closes the watch after this
  bool allow_bookmarks = true;
};

struct WriteOptions {
  bool dry_run = false;
  std::string field_manager;  // defaults to the client's field manager
};

struct PatchOptions {
  std::string field_manager;
  bool force = false;         // server-side apply only
  std::string subresource;    // "status"
  bool dry_run = false;
};

struct DeleteOptions {
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  std::string propagation_policy;  // "Background" | "Foreground" | "Orphan" | ""
  std::optional<int> grace_period_seconds;
  bool dry_run = false;
};

enum class PatchType { Merge, Json, Strategic, Apply };

struct WatchEvent {
  std::string type;  // ADDED MODIFIED DELETED BOOKMARK ERROR
  json object;
};

class Client {
 public:
  Client(std::shared_ptr<HttpClient> http, std::string field_manager = "gtoken");
  virtual ~Client() = default;

  json get(const Resource& r, const std::string& ns, const std::string& name,
           const std::string& subresource = "");
  // One page. The result is the List object (items, metadata.continue,
  // metadata.resourceVersion).
  json list(const Resource& r, const std::string& ns, const ListOptions& o = {});
  // Follows `continue` until the end; returns one List with every item and
  // the resourceVersion of the first page (the snapshot the pages belong to).
  json list_all(const Resource& r, const std::string& ns, ListOptions o = {});
  json create(const Resource& r, const std::string& ns, const json& obj,
              const WriteOptions& o = {});
  // PUT; obj.metadata.resourceVersion is the optimistic-concurrency guard.
  json update(const Resource& r, const std::string& ns, const json& obj,
              const WriteOptions& o = {});
  json update_status(const Resource& r, const std::string& ns, const json& obj,
                     const WriteOptions& o = {});
  json patch(const Resource& r, const std::string& ns, const std::string& name, PatchType type,
             const json& body, const PatchOptions& o = {});
  // Server-side apply of `obj` (must carry apiVersion/kind/metadata.name).
  json apply(const Resource& r, const std::string& ns, const json& obj, bool force = true,
             const std::string& subresource = "", const std::string& field_manager = "");
  // Returns the object as the server returned it (it may still exist with a
  // deletionTimestamp when finalizers hold it) or a Status.
  json remove(const Resource& r, const std::string& ns, const std::string& name,
              const DeleteOptions& o = {});

  // Streams watch events to on_event until the server closes the watch,
  // on_event returns false, or `cancel` fires. An HTTP error (e.g. 410)
  // throws ApiError; ERROR events are delivered to on_event as-is.
  void watch(const Resource& r, const std::string& ns, const WatchOptions& o,
             const std::function<bool(const WatchEvent&)>& on_event,
             CancelToken* cancel = nullptr);

  // Server version info (/version), e.g. to pick native sidecars.
  json version();
  // The ServiceAccount token issuer's discovery document
  // (/.well-known/openid-configuration: issuer, jwks_uri).
  json oidc_discovery();

  HttpClient& http() { return *http_; }
  const std::string& field_manager() const { return field_manager_; }

 private:
  json call(const std::string& method, const std::string& target, const std::string& body,
            const std::string& content_type);
  std::shared_ptr<HttpClient> http_;
  std::string field_manager_;
};

}  // namespace kube
