#include "kube/watcher.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>

#include "kube/errors.hpp"

namespace kube {

using json = nlohmann::json;

const char* to_string(WatcherEvent::Type t) {
  switch (t) {
    case WatcherEvent::Type::InitStart:
      return "InitStart";
    case WatcherEvent::Type::InitApply:
      return "InitApply";
    case WatcherEvent::Type::InitDone:
      return "InitDone";
    case WatcherEvent::Type::Apply:
      return "Apply";
    case WatcherEvent::Type::Delete:
      return "Delete";
  }
  return "?";
}

// --- ClientListWatch -------------------------------------------------------

ClientListWatch::ClientListWatch(std::shared_ptr<Client> client, Resource resource, std::string ns,
                                 std::string label_selector, std::string field_selector)
    : client_(std::move(client)),
      resource_(std::move(resource)),
      ns_(std::move(ns)),
      label_selector_(std::move(label_selector)),
      field_selector_(std::move(field_selector)) {
  if (!client_) {
    throw std::invalid_argument("ClientListWatch: no client");
  }
}

json ClientListWatch::list_page(const ListOptions& options) {
  ListOptions o = options;
  o.label_selector = label_selector_;
  o.field_selector = field_selector_;
  return client_->list(resource_, ns_, o);
}

void ClientListWatch::watch(const WatchOptions& options,
                            const std::function<bool(const WatchEvent&)>& on_event,
                            CancelToken* cancel) {
  WatchOptions o = options;
  o.label_selector = label_selector_;
  o.field_selector = field_selector_;
  client_->watch(resource_, ns_, o, on_event, cancel);
}

// --- Watcher ---------------------------------------------------------------

namespace {


std::string string_field(const json& obj, const char* field) {
  auto f = obj.find(field);
  return f != obj.end() && f->is_string() ? f->get<std::string>() : std::string();
}

}  // namespace

Watcher::Watcher(std::shared_ptr<ListWatchSource> source, WatcherOptions options,
                 std::shared_ptr<Clock> clock, Random random)
    : source_(std::move(source)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      random_(std::move(random)),
      backoff_(options_.backoff, random_) {
  if (!source_) {
    throw std::invalid_argument("Watcher: no source");
  }
  if (!clock_) {
    throw std::invalid_argument("Watcher: no clock");
  }
  if (options_.page_size < 0) {
    throw std::invalid_argument("Watcher: negative page size");
  }
}

void Watcher::log(const std::string& what) const {
  if (options_.log) {
    options_.log->debug(what);
  }
}

Clock::duration Watcher::fail(const std::string& what) {
  auto delay = backoff_.next();
  log(what + "; retrying in " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) + " ms");
  return delay;
}

void Watcher::note_resource_version(const json& obj) {
  const std::string& rv = metadata_string(obj, "resourceVersion");
  if (!rv.empty()) {
    resource_version_ = rv;
  }
}

Clock::duration Watcher::step(const Emit& emit, CancelToken* cancel) {
  switch (state_) {
    case State::Empty:
      emit(WatcherEvent{WatcherEvent::Type::InitStart, nullptr});
      state_ = State::Listing;
      continue_token_.clear();
      list_version_.clear();
      return Clock::duration::zero();
    case State::Listing:
      return step_list(emit);
    case State::Watching:
      return step_watch(emit, cancel);
  }
  return Clock::duration::zero();
}

Clock::duration Watcher::step_list(const Emit& emit) {
  ListOptions lo;
  lo.limit = options_.page_size;
  lo.continue_token = continue_token_;
  json page;
  try {
    page = source_->list_page(lo);
  } catch (const ApiError& e) {
    if (e.is_gone()) {
      // The continue token outlived its snapshot: list again from scratch.
      log(std::string("list: ") + e.what() + "; relisting");
      state_ = State::Empty;
      return Clock::duration::zero();
    }
    return fail(std::string("list: ") + e.what());
  } catch (const std::exception& e) {  // NetworkError, undecodable body
    return fail(std::string("list: ") + e.what());
  }
  if (!page.is_object()) {
    return fail("list: answer is not an object");
  }

  // List items lack apiVersion/kind on the wire; handlers expect them.
  std::string api_version = string_field(page, "apiVersion");
  std::string kind = string_field(page, "kind");
  if (kind.size() > 4 && kind.ends_with("List")) {
    kind.resize(kind.size() - 4);
  }

  auto items = page.find("items");
  if (items != page.end() && items->is_array()) {
    for (auto& item : *items) {
      if (!item.is_object()) {
        continue;
      }
      if (!api_version.empty() && !item.contains("apiVersion")) {
        item["apiVersion"] = api_version;
      }
      if (!kind.empty() && !item.contains("kind")) {
        item["kind"] = kind;
      }
      emit(WatcherEvent{WatcherEvent::Type::InitApply, std::move(item)});
    }
  }
  backoff_.reset();
  const std::string& page_version = metadata_string(page, "resourceVersion");
  if (!page_version.empty()) {
    list_version_ = page_version;
  }
  continue_token_ = metadata_string(page, "continue");
  if (!continue_token_.empty()) {
    return Clock::duration::zero();
  }

  emit(WatcherEvent{WatcherEvent::Type::InitDone, nullptr});
  state_ = State::Watching;
  resource_version_ = list_version_;
  list_version_.clear();
  return Clock::duration::zero();
}

Clock::duration Watcher::step_watch(const Emit& emit, CancelToken* cancel) {
  WatchOptions wo;
  wo.resource_version = resource_version_;
  wo.allow_bookmarks = true;
  double u = random_();
  if (!(u >= 0.0) || u > 1.0) {
    u = 0.0;
  }
  const double seconds = static_cast<double>(options_.watch_timeout.count()) *
                         (1.0 + std::max(0.0, options_.watch_timeout_jitter) * u);
  wo.timeout_seconds = static_cast<int>(std::lround(seconds));

  bool any_event = false;
  bool gone = false;
  std::string error_event;
  std::exception_ptr emit_error;
  auto on_event = [&](const WatchEvent& ev) -> bool {
    // Errors from the consumer must not look like watch errors: carry them
    // past the source and rethrow below.
    try {
      if (ev.type == "ADDED" || ev.type == "MODIFIED") {
        emit(WatcherEvent{WatcherEvent::Type::Apply, ev.object});
        note_resource_version(ev.object);
      } else if (ev.type == "DELETED") {
        emit(WatcherEvent{WatcherEvent::Type::Delete, ev.object});
        note_resource_version(ev.object);
      } else if (ev.type == "BOOKMARK") {
        note_resource_version(ev.object);
      } else if (ev.type == "ERROR") {
        if (!ev.object.is_object()) {
          error_event = "malformed ERROR event";
          return false;
        }
        ApiError err(status_from_json(ev.object));
        if (err.is_gone()) {
          gone = true;
        } else {
          error_event = err.what();
        }
        return false;
      } else {
        log("watch: ignoring event of type '" + ev.type + "'");
      }
    } catch (...) {
      emit_error = std::current_exception();
      return false;
    }
    any_event = true;
    return true;
  };

  const auto started = clock_->now();
  try {
    source_->watch(wo, on_event, cancel);
  } catch (const ApiError& e) {
    if (emit_error) {
      std::rethrow_exception(emit_error);
    }
    if (e.is_gone()) {
      log(std::string("watch: ") + e.what() + "; relisting");
      state_ = State::Empty;
      return Clock::duration::zero();
    }
    return fail(std::string("watch: ") + e.what());
  } catch (const std::exception& e) {  // NetworkError: resume from resource_version_
    if (emit_error) {
      std::rethrow_exception(emit_error);
    }
    return fail(std::string("watch: ") + e.what());
  }
  if (emit_error) {
    std::rethrow_exception(emit_error);
  }
  if (any_event) {
    backoff_.reset();
  }
  if (gone) {
    log("watch: resourceVersion " + resource_version_ + " expired; relisting");
    state_ = State::Empty;
    return Clock::duration::zero();
  }
  if (!error_event.empty()) {
    return fail("watch: ERROR event: " + error_event);
  }
  if (cancel != nullptr && cancel->cancelled()) {
    return Clock::duration::zero();
  }
  if (!any_event && clock_->now() - started < options_.min_watch_duration) {
    return fail("watch: stream closed at once without events");
  }
  return Clock::duration::zero();
}

// --- Store feeding -----------------------------------------------------------

void apply_to_store(Store& store, const WatcherEvent& event) {
  switch (event.type) {
    case WatcherEvent::Type::InitStart:
      store.begin_relist();
      break;
    case WatcherEvent::Type::InitApply:
      store.relist_add(event.object);
      break;
    case WatcherEvent::Type::InitDone:
      store.end_relist();
      break;
    case WatcherEvent::Type::Apply:
      store.apply(event.object);
      break;
    case WatcherEvent::Type::Delete:
      store.remove(event.object);
      break;
  }
}

// --- Informer ----------------------------------------------------------------

Informer::Informer(std::shared_ptr<ListWatchSource> source, InformerOptions options)
    : store_(std::make_shared<Store>(options.transform)),
      options_(std::move(options)),
      watcher_(std::move(source), options_.watcher, options_.clock, options_.random) {
  if (!options_.sleep) {
    throw std::invalid_argument("Informer: no sleep function");
  }
}

Informer::~Informer() {
  stop();
}

void Informer::guarded(const char* what, const std::function<void()>& f) const {
  try {
    f();
  } catch (const std::exception& e) {
    if (options_.watcher.log) {
      options_.watcher.log->debug(std::string(what) + " handler: " + e.what());
    }
  } catch (...) {
    if (options_.watcher.log) {
      options_.watcher.log->debug(std::string(what) + " handler threw");
    }
  }
}

void Informer::on_add(std::function<void(const json&)> f) {
  store_->subscribe([this, f = std::move(f)](const StoreChange& c) {
    if (c.type == StoreChange::Type::Added) {
      guarded("add", [&] { f(*c.object); });
    }
  });
}

void Informer::on_update(std::function<void(const json&, const json&)> f) {
  store_->subscribe([this, f = std::move(f)](const StoreChange& c) {
    if (c.type == StoreChange::Type::Updated) {
      guarded("update", [&] { f(*c.old_object, *c.object); });
    }
  });
}

void Informer::on_delete(std::function<void(const json&)> f) {
  store_->subscribe([this, f = std::move(f)](const StoreChange& c) {
    if (c.type == StoreChange::Type::Deleted) {
      guarded("delete", [&] { f(*c.object); });
    }
  });
}

void Informer::on_change(std::function<void(const std::string&)> f) {
  store_->subscribe(
      [this, f = std::move(f)](const StoreChange& c) { guarded("change", [&] { f(c.key); }); });
}

void Informer::start() {
  if (thread_.joinable()) {
    return;
  }
  // A CancelToken is one-shot: each run gets its own.
  cancel_ = std::make_unique<CancelToken>();
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

void Informer::stop() {
  if (!thread_.joinable()) {
    return;
  }
  thread_.request_stop();  // the stop callback in run() cancels the stream
  thread_.join();
  thread_ = std::jthread();
}

void Informer::run(const std::stop_token& stop) {
  CancelToken* cancel = cancel_.get();
  std::stop_callback on_stop(stop, [cancel] { cancel->cancel(); });
  auto emit = [this](const WatcherEvent& ev) { apply_to_store(*store_, ev); };
  while (!stop.stop_requested()) {
    Clock::duration wait = Clock::duration::zero();
    try {
      wait = watcher_.step(emit, cancel);
    } catch (const std::exception& e) {
      // Only the store can throw here (handlers are guarded): out of memory
      // or a bug. Back off rather than spin.
      if (options_.watcher.log) {
        options_.watcher.log->debug(std::string("informer: ") + e.what());
      }
      wait = options_.watcher.backoff.cap;
    }
    if (wait > Clock::duration::zero() && !options_.sleep(wait, stop)) {
      break;
    }
  }
}

}  // namespace kube
