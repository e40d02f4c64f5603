#pragma once
// List-then-watch of one collection as an explicit state machine, and the
// Informer that runs it on a thread into a Store.
//
//   Empty --(InitStart)--> Listing --page..page--(InitDone)--> Watching
//     ^                      |  410 (continue token expired)      |
//     +----------------------+------------------------------------+
//                                 410 as HTTP status or ERROR event
//
// In Watching, a watch that ends (server timeout, disconnect, NetworkError)
// is resumed from the last resourceVersion seen, bookmarks included. Any
// other failure is retried in the same state after a jittered backoff.
//
// The machine does no sleeping and no threading: step() performs one IO
// action against a ListWatchSource, emits events, and returns how long the
// caller should wait before the next step. Unit tests drive it with a
// scripted source; the Informer drives it with the real client.

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <thread>

#include "kube/backoff.hpp"
#include "kube/client.hpp"
#include "kube/clock.hpp"
#include "kube/http.hpp"
#include "kube/log.hpp"
#include "kube/resource.hpp"
#include "kube/store.hpp"

namespace kube {

struct WatcherEvent {
  enum class Type {
    InitStart,  // a (re)list begins: start buffering
    InitApply,  // one object of the list
    InitDone,   // the list is complete: swap the buffer in
    Apply,      // added or modified while watching
    Delete,     // deleted while watching (object = its final state)
  };
  Type type;
  nlohmann::json object;  // null for InitStart / InitDone
};

const char* to_string(WatcherEvent::Type t);

// Where a watcher gets its data from. Both calls throw ApiError for a
// Kubernetes error answer and NetworkError when no answer arrived.
class ListWatchSource {
 public:
  virtual ~ListWatchSource() = default;
  // One page of the collection: a List with items, metadata.continue and
  // metadata.resourceVersion.
  virtual nlohmann::json list_page(const ListOptions& options) = 0;
  // Streams events until the server ends the watch, on_event returns false,
  // or `cancel` fires (all three return normally).
  virtual void watch(const WatchOptions& options,
                     const std::function<bool(const WatchEvent&)>& on_event,
                     CancelToken* cancel) = 0;
};

// A ListWatchSource over the REST client for one resource, in one namespace
// ("" = all), filtered by label and field selectors.
class ClientListWatch final : public ListWatchSource {
 public:
  ClientListWatch(std::shared_ptr<Client> client, Resource resource, std::string ns = "",
                  std::string label_selector = "", std::string field_selector = "");
  nlohmann::json list_page(const ListOptions& options) override;
  void watch(const WatchOptions& options, const std::function<bool(const WatchEvent&)>& on_event,
             CancelToken* cancel) override;

 private:
  std::shared_ptr<Client> client_;
  Resource resource_;
  std::string ns_;
  std::string label_selector_;
  std::string field_selector_;
};

struct WatcherOptions {
  int page_size = 500;
  // The server ends each watch after timeout * (1 + jitter * u), so that many
  // clients do not reconnect in step.
  std::chrono::seconds watch_timeout{300};
  double watch_timeout_jitter = 0.2;
  BackoffPolicy backoff{std::chrono::milliseconds(800), std::chrono::seconds(30), 2.0,
                        Jitter::Equal};
  // A watch that ends without a single event sooner than this counts as a
  // failure (backoff), so a proxy that drops every stream cannot spin us.
  Clock::duration min_watch_duration = std::chrono::seconds(1);
  // Diagnostics (errors, relists, handlers that threw), at debug; null: none.
  Logger* log = nullptr;
};

class Watcher {
 public:
  enum class State { Empty, Listing, Watching };
  using Emit = std::function<void(const WatcherEvent&)>;

  Watcher(std::shared_ptr<ListWatchSource> source, WatcherOptions options = {},
          std::shared_ptr<Clock> clock = system_clock(), Random random = default_random());

  // Performs one step (one list page, or one whole watch stream) and returns
  // how long to wait before the next one (zero: go on at once). Exceptions
  // thrown by `emit` propagate unchanged and leave the state as it was
  // before the event.
  Clock::duration step(const Emit& emit, CancelToken* cancel = nullptr);

  State state() const { return state_; }
  // The last resourceVersion seen (list, event or bookmark); "" before that.
  const std::string& resource_version() const { return resource_version_; }
  // Failures since the last success.
  unsigned failures() const { return backoff_.attempts(); }

 private:
  Clock::duration step_list(const Emit& emit);
  Clock::duration step_watch(const Emit& emit, CancelToken* cancel);
  Clock::duration fail(const std::string& what);
  void log(const std::string& what) const;
  void note_resource_version(const nlohmann::json& obj);

  std::shared_ptr<ListWatchSource> source_;
  WatcherOptions options_;
  std::shared_ptr<Clock> clock_;
  Random random_;
  Backoff backoff_;

  State state_ = State::Empty;
  std::string continue_token_;    // Listing: the next page's cursor
  std::string list_version_;      // Listing: the snapshot the pages belong to
  std::string resource_version_;  // Watching: resume point
  std::string list_api_version_;  // fills apiVersion/kind of list items
  std::string list_item_kind_;
};

// Feeds watcher events into a store: buffers a relist between InitStart and
// InitDone and swaps it in at once.
void apply_to_store(Store& store, const WatcherEvent& event);

struct InformerOptions {
  WatcherOptions watcher;
  Transform transform;  // applied to every object before it is cached
  std::shared_ptr<Clock> clock = system_clock();
  Random random = default_random();
  SleepFn sleep = interruptible_sleep;  // between failed steps
};

// Runs a Watcher on its own thread into a Store and calls handlers on that
// thread. Register handlers before start(). stop() (or destruction) cancels
// the watch in flight and joins.
class Informer {
 public:
  explicit Informer(std::shared_ptr<ListWatchSource> source, InformerOptions options = {});
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  const Store& store() const { return *store_; }
  std::shared_ptr<const Store> shared_store() const { return store_; }

  // Handlers see objects after the transform. A handler that throws is
  // logged and otherwise ignored.
  void on_add(std::function<void(const nlohmann::json&)> f);
  void on_update(std::function<void(const nlohmann::json& old, const nlohmann::json& cur)> f);
  void on_delete(std::function<void(const nlohmann::json& last)> f);
  // Any change, by key: what a controller enqueues.
  void on_change(std::function<void(const std::string& key)> f);

  void start();
  void stop();
  bool running() const { return thread_.joinable(); }
  bool synced() const { return store_->synced(); }
  bool wait_synced(std::chrono::milliseconds timeout) const { return store_->wait_synced(timeout); }

 private:
  void run(const std::stop_token& stop);
  void guarded(const char* what, const std::function<void()>& f) const;

  std::shared_ptr<Store> store_;
  InformerOptions options_;
  Watcher watcher_;
  std::unique_ptr<CancelToken> cancel_;
  std::jthread thread_;
};

}  // namespace kube
