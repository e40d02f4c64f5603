#pragma once
// A thread-safe cache of one kind of object, keyed "namespace/name" ("name"
// for cluster-scoped objects), fed by a watcher.
//
// Objects are immutable once stored (shared_ptr<const json>): a reader keeps
// its snapshot while the writer replaces the entry. A transform may strip
// each object before it is stored (e.g. keep only the metadata of
// ServiceAccounts) to save memory.
//
// Writers: one watcher at a time. A relist is staged (begin_relist,
// relist_add...) and swapped in at once by end_relist(), so readers never see
// a half-listed cache; objects that vanished in between produce synthetic
// delete notifications. synced() turns true at the first end_relist().
//
// Handlers run on the writer's thread, after the change is visible to
// readers, in the order of the changes. They may read the store; they must
// not write to it or subscribe, and must not throw.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

namespace kube {

// metadata.<field> of an object as a string ("" when absent or not a string).
const std::string& metadata_string(const nlohmann::json& obj, const char* field);

using ObjectPtr = std::shared_ptr<const nlohmann::json>;
using Transform = std::function<nlohmann::json(nlohmann::json)>;

// "namespace/name", or "name" without a namespace. Empty if there is no name.
std::string object_key(const nlohmann::json& obj);

// Keeps apiVersion, kind and metadata without managedFields.
nlohmann::json keep_metadata_only(nlohmann::json obj);
// Drops metadata.managedFields (often the largest part of an object).
nlohmann::json strip_managed_fields(nlohmann::json obj);

struct StoreChange {
  enum class Type { Added, Updated, Deleted };
  Type type;
  std::string key;
  ObjectPtr old_object;  // null for Added
  ObjectPtr object;      // new state; for Deleted the last state known
  // Deleted by a relist: the delete itself was never seen, so `object` is
  // the last state this store had (client-go's DeletedFinalStateUnknown).
  bool final_state_unknown = false;
};

class Store {
 public:
  using Handler = std::function<void(const StoreChange&)>;

  explicit Store(Transform transform = {});
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- readers (any thread) ---
  ObjectPtr get(const std::string& key) const;  // null if absent
  ObjectPtr get(const std::string& ns, const std::string& name) const;
  std::vector<ObjectPtr> list() const;                       // ordered by key
  std::vector<ObjectPtr> list(const std::string& ns) const;  // one namespace
  std::vector<std::string> keys() const;
  size_t size() const;
  bool synced() const;
  // Real-time wait for the first complete list; true if synced.
  bool wait_synced(std::chrono::milliseconds timeout) const;

  void subscribe(Handler handler);

  // --- writer (the watcher's thread) ---
  // Adds or updates. No notification when the stored object is unchanged.
  void apply(nlohmann::json obj);
  // Removes the object with obj's key (obj is its final state).
  void remove(const nlohmann::json& obj);
  // Relist staging: begin clears any earlier unfinished staging.
  void begin_relist();
  void relist_add(nlohmann::json obj);
  void end_relist();
  // begin_relist + relist_add for each + end_relist.
  void replace(std::vector<nlohmann::json> objects);

 private:
  ObjectPtr prepare(nlohmann::json obj) const;
  void index_add_locked(const std::string& key);
  void index_remove_locked(const std::string& key);
  void notify(const std::vector<StoreChange>& changes);

  Transform transform_;

  // Serializes writers and their notifications; guards handlers_, staging_.
  std::mutex write_mu_;
  std::vector<Handler> handlers_;
  std::map<std::string, ObjectPtr> staging_;

  // Guards the contents readers see.
  mutable std::shared_mutex mu_;
  std::map<std::string, ObjectPtr> objects_;
  std::map<std::string, std::set<std::string>> by_namespace_;

  mutable std::mutex synced_mu_;
  mutable std::condition_variable synced_cv_;
  bool synced_ = false;
};

}  // namespace kube
