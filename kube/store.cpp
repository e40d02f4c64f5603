#include "kube/store.hpp"

namespace kube {

using json = nlohmann::json;

const std::string& metadata_string(const json& obj, const char* field) {
  static const std::string empty;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) {
    return empty;
  }
  auto f = m->find(field);
  if (f == m->end() || !f->is_string()) {
    return empty;
  }
  return f->get_ref<const std::string&>();
}

namespace {


// Names cannot contain '/', so the namespace is what precedes the first one.
std::string namespace_of_key(const std::string& key) {
  auto slash = key.find('/');
  return slash == std::string::npos ? std::string() : key.substr(0, slash);
}

}  // namespace

std::string object_key(const json& obj) {
  const std::string& name = metadata_string(obj, "name");
  if (name.empty()) {
    return {};
  }
  const std::string& ns = metadata_string(obj, "namespace");
  return ns.empty() ? name : ns + "/" + name;
}

json keep_metadata_only(json obj) {
  json out = json::object();
  if (!obj.is_object()) {
    return out;
  }
  for (const char* field : {"apiVersion", "kind", "metadata"}) {
    auto it = obj.find(field);
    if (it != obj.end()) {
      out[field] = std::move(*it);
    }
  }
  return strip_managed_fields(std::move(out));
}

json strip_managed_fields(json obj) {
  if (obj.is_object()) {
    auto m = obj.find("metadata");
    if (m != obj.end() && m->is_object()) {
      m->erase("managedFields");
    }
  }
  return obj;
}

Store::Store(Transform transform) : transform_(std::move(transform)) {}

ObjectPtr Store::prepare(json obj) const {
  if (transform_) {
    obj = transform_(std::move(obj));
  }
  return std::make_shared<const json>(std::move(obj));
}

ObjectPtr Store::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

ObjectPtr Store::get(const std::string& ns, const std::string& name) const {
  return get(ns.empty() ? name : ns + "/" + name);
}

std::vector<ObjectPtr> Store::list() const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) {
    out.push_back(obj);
  }
  return out;
}

std::vector<ObjectPtr> Store::list(const std::string& ns) const {
  std::shared_lock lock(mu_);
  std::vector<ObjectPtr> out;
  auto idx = by_namespace_.find(ns);
  if (idx == by_namespace_.end()) {
    return out;
  }
  out.reserve(idx->second.size());
  for (const auto& key : idx->second) {
    out.push_back(objects_.at(key));
  }
  return out;
}

std::vector<std::string> Store::keys() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  out.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) {
    out.push_back(key);
  }
  return out;
}

size_t Store::size() const {
  std::shared_lock lock(mu_);
  return objects_.size();
}

bool Store::synced() const {
  std::lock_guard lock(synced_mu_);
  return synced_;
}

bool Store::wait_synced(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(synced_mu_);
  return synced_cv_.wait_for(lock, timeout, [this] { return synced_; });
}

void Store::subscribe(Handler handler) {
  std::lock_guard lock(write_mu_);
  handlers_.push_back(std::move(handler));
}

void Store::index_add_locked(const std::string& key) {
  by_namespace_[namespace_of_key(key)].insert(key);
}

void Store::index_remove_locked(const std::string& key) {
  auto idx = by_namespace_.find(namespace_of_key(key));
  if (idx == by_namespace_.end()) {
    return;
  }
  idx->second.erase(key);
  if (idx->second.empty()) {
    by_namespace_.erase(idx);
  }
}

void Store::notify(const std::vector<StoreChange>& changes) {
  for (const auto& change : changes) {
    for (const auto& h : handlers_) {
      h(change);
    }
  }
}

// Only the writer (holding write_mu_) modifies objects_, so the writer may
// read it without mu_; mu_ is taken exclusively just for the modification.

void Store::apply(json obj) {
  std::string key = object_key(obj);
  if (key.empty()) {
    return;
  }
  ObjectPtr next = prepare(std::move(obj));
  std::lock_guard write(write_mu_);
  ObjectPtr old;
  if (auto it = objects_.find(key); it != objects_.end()) {
    old = it->second;
  }
  if (old && *old == *next) {
    return;
  }
  {
    std::unique_lock lock(mu_);
    objects_[key] = next;
    if (!old) {
      index_add_locked(key);
    }
  }
  StoreChange change{old ? StoreChange::Type::Updated : StoreChange::Type::Added, key, old, next};
  notify({change});
}

void Store::remove(const json& obj) {
  std::string key = object_key(obj);
  if (key.empty()) {
    return;
  }
  ObjectPtr last = prepare(obj);
  std::lock_guard write(write_mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return;
  }
  ObjectPtr old = it->second;
  {
    std::unique_lock lock(mu_);
    objects_.erase(it);
    index_remove_locked(key);
  }
  notify({StoreChange{StoreChange::Type::Deleted, key, old, last}});
}

void Store::begin_relist() {
  std::lock_guard write(write_mu_);
  staging_.clear();
}

void Store::relist_add(json obj) {
  std::string key = object_key(obj);
  if (key.empty()) {
    return;
  }
  ObjectPtr next = prepare(std::move(obj));
  std::lock_guard write(write_mu_);
  staging_[std::move(key)] = std::move(next);
}

void Store::end_relist() {
  std::lock_guard write(write_mu_);
  std::vector<StoreChange> changes;
  // Both maps are ordered by key: walk them side by side.
  auto old_it = objects_.begin();
  auto new_it = staging_.begin();
  while (old_it != objects_.end() || new_it != staging_.end()) {
    if (new_it == staging_.end() || (old_it != objects_.end() && old_it->first < new_it->first)) {
      changes.push_back(StoreChange{StoreChange::Type::Deleted, old_it->first, old_it->second,
                                    old_it->second, /*final_state_unknown=*/true});
      ++old_it;
    } else if (old_it == objects_.end() || new_it->first < old_it->first) {
      changes.push_back(
          StoreChange{StoreChange::Type::Added, new_it->first, nullptr, new_it->second});
      ++new_it;
    } else {
      if (*old_it->second == *new_it->second) {
        // Unchanged: keep the old pointer so only one copy stays alive.
        new_it->second = old_it->second;
      } else {
        changes.push_back(
            StoreChange{StoreChange::Type::Updated, new_it->first, old_it->second, new_it->second});
      }
      ++old_it;
      ++new_it;
    }
  }
  std::map<std::string, std::set<std::string>> index;
  for (const auto& [key, obj] : staging_) {
    index[namespace_of_key(key)].insert(key);
  }
  {
    std::unique_lock lock(mu_);
    objects_.swap(staging_);
    by_namespace_.swap(index);
  }
  staging_.clear();  // the old contents, freed outside the readers' lock
  {
    std::lock_guard lock(synced_mu_);
    synced_ = true;
  }
  synced_cv_.notify_all();
  notify(changes);
}

void Store::replace(std::vector<json> objects) {
  begin_relist();
  for (auto& obj : objects) {
    relist_add(std::move(obj));
  }
  end_relist();
}

}  // namespace kube
