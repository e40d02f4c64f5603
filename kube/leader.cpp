#include "kube/leader.hpp"

#include <algorithm>
#include <stdexcept>

#include "kube/errors.hpp"
#include "kube/resource.hpp"

namespace kube {

using json = nlohmann::json;

// --- Decision --------------------------------------------------------------------

namespace {

std::optional<Clock::time_point> time_field(const json& spec, const char* field) {
  auto it = spec.find(field);
  if (it == spec.end() || !it->is_string()) {
    return std::nullopt;
  }
  return parse_rfc3339(it->get_ref<const std::string&>());
}

}  // namespace

LeaseRecord LeaseRecord::from_json(const json& lease) {
  LeaseRecord r;
  if (!lease.is_object()) {
    return r;
  }
  if (auto m = lease.find("metadata"); m != lease.end() && m->is_object()) {
    if (auto rv = m->find("resourceVersion"); rv != m->end() && rv->is_string()) {
      r.resource_version = rv->get<std::string>();
    }
  }
  auto spec_it = lease.find("spec");
  if (spec_it == lease.end() || !spec_it->is_object()) {
    return r;
  }
  const json& spec = *spec_it;
  if (auto h = spec.find("holderIdentity"); h != spec.end() && h->is_string()) {
    r.holder = h->get<std::string>();
  }
  if (auto d = spec.find("leaseDurationSeconds"); d != spec.end() && d->is_number_integer()) {
    r.lease_duration_seconds = d->get<int>();
  }
  if (auto t = spec.find("leaseTransitions"); t != spec.end() && t->is_number_integer()) {
    r.transitions = t->get<int>();
  }
  r.acquire_time = time_field(spec, "acquireTime");
  r.renew_time = time_field(spec, "renewTime");
  return r;
}

const char* to_string(LeaseAction a) {
  switch (a) {
    case LeaseAction::Create:
      return "Create";
    case LeaseAction::Acquire:
      return "Acquire";
    case LeaseAction::Renew:
      return "Renew";
    case LeaseAction::Wait:
      return "Wait";
  }
  return "?";
}

LeaseDecision decide_lease(const std::optional<json>& lease, Clock::time_point now,
                           const std::string& identity, Clock::duration lease_duration,
                           std::optional<Clock::time_point> observed_at) {
  if (!lease) {
    return {LeaseAction::Create, "", {}};
  }
  const LeaseRecord r = LeaseRecord::from_json(*lease);
  if (r.holder.empty()) {
    return {LeaseAction::Acquire, "", {}};
  }
  if (r.holder == identity) {
    return {LeaseAction::Renew, r.holder, {}};
  }

  const Clock::duration duration =
      r.lease_duration_seconds > 0 ? Clock::duration(std::chrono::seconds(r.lease_duration_seconds))
                                   : lease_duration;
  // A holder that never wrote a time has nothing to keep valid.
  Clock::time_point expires{};
  if (r.renew_time) {
    expires = *r.renew_time + duration;
  } else if (r.acquire_time) {
    expires = *r.acquire_time + duration;
  }
  if (observed_at) {
    expires = std::max(expires, *observed_at + duration);
  }
  if (now >= expires) {
    return {LeaseAction::Acquire, r.holder, expires};
  }
  return {LeaseAction::Wait, r.holder, expires};
}

// --- ClientLeaseApi ----------------------------------------------------------------

ClientLeaseApi::ClientLeaseApi(std::shared_ptr<Client> client, std::string ns, std::string name)
    : client_(std::move(client)), ns_(std::move(ns)), name_(std::move(name)) {
  if (!client_) {
    throw std::invalid_argument("ClientLeaseApi: no client");
  }
}

std::optional<json> ClientLeaseApi::get() {
  try {
    return client_->get(resources::leases(), ns_, name_);
  } catch (const ApiError& e) {
    if (e.is_not_found()) {
      return std::nullopt;
    }
    throw;
  }
}

json ClientLeaseApi::create(const json& lease) {
  return client_->create(resources::leases(), ns_, lease);
}

json ClientLeaseApi::update(const json& lease) {
  return client_->update(resources::leases(), ns_, lease);
}

// --- LeaderElector -----------------------------------------------------------------

namespace {

int64_t to_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

LeaderElector::LeaderElector(std::shared_ptr<LeaseApi> api, LeaderElectionConfig config,
                             std::shared_ptr<Clock> clock, Random random)
    : api_(std::move(api)),
      config_(std::move(config)),
      clock_(std::move(clock)),
      random_(std::move(random)) {
  if (!api_ || !clock_ || !random_ || !config_.sleep) {
    throw std::invalid_argument("LeaderElector: missing lease API, clock, random or sleep");
  }
  if (config_.identity.empty()) {
    throw std::invalid_argument("LeaderElector: empty identity");
  }
  if (config_.lease_name.empty()) {
    throw std::invalid_argument("LeaderElector: empty lease name");
  }
  if (!(config_.retry_period > Clock::duration::zero() &&
        config_.renew_deadline > config_.retry_period &&
        Clock::duration(config_.lease_duration) > config_.renew_deadline)) {
    throw std::invalid_argument(
        "LeaderElector: need lease_duration > renew_deadline > retry_period > 0");
  }
}

LeaderElector::~LeaderElector() {
  stop();
}

bool LeaderElector::is_leader() const {
  if (!leading_.load()) {
    return false;
  }
  const int64_t now = to_ns(clock_->now());
  const int64_t renewed = renewed_at_ns_.load();
  // Before the renewal means the wall clock stepped back: the deadline can no
  // longer be trusted, so stop until the next renewal re-anchors it.
  return renewed <= now &&
         now - renewed <
             std::chrono::duration_cast<std::chrono::nanoseconds>(config_.renew_deadline).count();
}

std::string LeaderElector::leader() const {
  std::lock_guard lock(observed_mu_);
  return observed_holder_;
}

void LeaderElector::log(const std::string& what) const {
  if (config_.log) {
    config_.log->debug("leader election (" + config_.identity + "): " + what);
  }
}

json LeaderElector::new_lease(Clock::time_point now) const {
  const std::string t = format_micro_time(now);
  return json{{"apiVersion", "coordination.k8s.io/v1"},
              {"kind", "Lease"},
              {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
              {"spec",
               {{"holderIdentity", config_.identity},
                {"leaseDurationSeconds", config_.lease_duration.count()},
                {"acquireTime", t},
                {"renewTime", t},
                {"leaseTransitions", 0}}}};
}

void LeaderElector::observe(const LeaseRecord& record, Clock::time_point now) {
  bool new_holder = false;
  {
    std::lock_guard lock(observed_mu_);
    if (record.resource_version != observed_version_) {
      observed_version_ = record.resource_version;
      observed_at_ = now;
    }
    if (record.holder != observed_holder_) {
      observed_holder_ = record.holder;
      new_holder = !record.holder.empty();
    }
  }
  if (new_holder && config_.on_new_leader) {
    config_.on_new_leader(record.holder);
  }
}

LeaderElector::Attempt LeaderElector::attempt(Clock::time_point now) {
  std::optional<json> current;
  try {
    current = api_->get();
  } catch (const std::exception& e) {
    log(std::string("reading the lease: ") + e.what());
    return Attempt::Failed;
  }

  if (!current) {
    try {
      observe(LeaseRecord::from_json(api_->create(new_lease(now))), now);
      return Attempt::Held;
    } catch (const std::exception& e) {
      // A 409 means another candidate created it first; the next round reads it.
      log(std::string("creating the lease: ") + e.what());
      return Attempt::Failed;
    }
  }

  const LeaseRecord record = LeaseRecord::from_json(*current);
  observe(record, now);
  std::optional<Clock::time_point> seen;
  if (config_.wait_observed_expiry) {
    std::lock_guard lock(observed_mu_);
    seen = observed_at_;
  }
  const LeaseDecision d =
      decide_lease(current, now, config_.identity, config_.lease_duration, seen);
  if (d.action == LeaseAction::Wait) {
    return Attempt::HeldByOther;
  }

  json next = std::move(*current);
  json& spec = next["spec"];
  if (!spec.is_object()) {
    spec = json::object();
  }
  const std::string t = format_micro_time(now);
  spec["holderIdentity"] = config_.identity;
  spec["leaseDurationSeconds"] = config_.lease_duration.count();
  spec["renewTime"] = t;
  if (d.action == LeaseAction::Acquire) {
    spec["acquireTime"] = t;
    spec["leaseTransitions"] = record.transitions + 1;
  }
  try {
    observe(LeaseRecord::from_json(api_->update(next)), now);
    return Attempt::Held;
  } catch (const std::exception& e) {
    // 409: the lease changed since we read it (another candidate won, or a
    // renewal of ours raced); the next round reads the truth.
    log(std::string(d.action == LeaseAction::Acquire ? "acquiring" : "renewing") +
        " the lease: " + e.what());
    return Attempt::Failed;
  }
}

void LeaderElector::stop_leading(const std::string& why) {
  if (!leading_.exchange(false)) {
    return;
  }
  log("stopped leading: " + why);
  if (config_.on_stopped_leading) {
    config_.on_stopped_leading();
  }
}

Clock::duration LeaderElector::candidate_wait() {
  double u = random_();
  if (!(u >= 0.0) || u > 1.0) {
    u = 0.0;
  }
  const double factor = 1.0 + std::max(0.0, config_.retry_jitter) * u;
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, Clock::duration::period>(
          static_cast<double>(config_.retry_period.count()) * factor));
}

Clock::duration LeaderElector::step() {
  const auto now = clock_->now();
  // The previous round may have ended past the deadline (a slow request).
  if (leading_.load() && !is_leader()) {
    stop_leading("renew deadline passed");
  }

  const Attempt a = attempt(now);
  if (a == Attempt::Held) {
    // Others count the lease from the renewTime we wrote (now), so our
    // leadership is measured from there too, not from when the answer came.
    renewed_at_ns_.store(to_ns(now));
    if (!leading_.exchange(true)) {
      log("started leading");
      if (config_.on_started_leading) {
        config_.on_started_leading();
      }
    }
    return config_.retry_period;
  }
  if (leading_.load()) {
    if (a == Attempt::HeldByOther) {
      stop_leading("the lease is held by " + leader());
    } else if (!is_leader()) {
      stop_leading("renew deadline passed");
    } else {
      return config_.retry_period;
    }
  }
  return candidate_wait();
}

void LeaderElector::release() {
  const bool may_hold = leading_.load() || leader() == config_.identity;
  stop_leading("releasing the lease");
  if (!may_hold) {
    return;
  }
  try {
    auto current = api_->get();
    if (!current || LeaseRecord::from_json(*current).holder != config_.identity) {
      return;
    }
    json next = std::move(*current);
    json& spec = next["spec"];
    const std::string t = format_micro_time(clock_->now());
    // What client-go writes on release: no holder, a 1 s lease, so the next
    // candidate takes over on its next round.
    spec["holderIdentity"] = "";
    spec["leaseDurationSeconds"] = 1;
    spec["acquireTime"] = t;
    spec["renewTime"] = t;
    observe(LeaseRecord::from_json(api_->update(next)), clock_->now());
    log("released the lease");
  } catch (const std::exception& e) {
    log(std::string("releasing the lease: ") + e.what());
  }
}

void LeaderElector::run(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    const auto wait = step();
    if (!config_.sleep(wait, stop)) {
      break;
    }
  }
  if (config_.release_on_stop) {
    release();
  } else {
    stop_leading("stopping");
  }
}

void LeaderElector::start() {
  if (thread_.joinable()) {
    return;
  }
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

void LeaderElector::stop() {
  if (!thread_.joinable()) {
    return;
  }
  thread_.request_stop();
  thread_.join();
  thread_ = std::jthread();
}

}  // namespace kube
