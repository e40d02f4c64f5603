#pragma once
// Leader election on a coordination.k8s.io/v1 Lease.
//
// The decision is a pure function of (lease, now, identity); the elector
// loops around it: read the lease (absent: create it), update it with its
// resourceVersion (409: someone else won), renew every retry period. If no
// renewal succeeded within the renew deadline, it stops leading at once:
// is_leader() turns false by the clock alone, even while a renewal request is
// still hanging, and on_stopped_leading runs as soon as the loop sees it.
// Callers check is_leader() before each write. On a clean stop it releases
// the lease so another candidate can take over at once.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include "kube/client.hpp"
#include "kube/clock.hpp"
#include "kube/log.hpp"
#include "kube/time.hpp"

namespace kube {

// The fields of a Lease that election reads.
struct LeaseRecord {
  std::string holder;  // "" = free
  int lease_duration_seconds = 0;
  std::optional<Clock::time_point> acquire_time;
  std::optional<Clock::time_point> renew_time;
  int transitions = 0;
  std::string resource_version;

  static LeaseRecord from_json(const nlohmann::json& lease);
};

enum class LeaseAction {
  Create,   // no lease: create it holding it
  Acquire,  // free or expired: take it over (transitions + 1)
  Renew,    // ours: bump renewTime
  Wait,     // someone else holds a valid lease
};
const char* to_string(LeaseAction a);

struct LeaseDecision {
  LeaseAction action;
  std::string holder;              // current holder per the lease ("" if none)
  Clock::time_point expires_at{};  // Wait: when it may be taken over
};

// Pure. `lease_duration` is used when the lease does not say its own.
// `observed_at`: when this caller first saw the lease in its current version
// (by resourceVersion). With it, a lease also stays valid until observed_at +
// duration by the caller's own clock, so a clock running ahead of the
// holder's cannot steal a lease that is still being renewed.
LeaseDecision decide_lease(const std::optional<nlohmann::json>& lease, Clock::time_point now,
                           const std::string& identity, Clock::duration lease_duration,
                           std::optional<Clock::time_point> observed_at = std::nullopt);

// The three calls election needs, so tests can fake the apiserver.
class LeaseApi {
 public:
  virtual ~LeaseApi() = default;
  virtual std::optional<nlohmann::json> get() = 0;  // nullopt when absent (404)
  // Both throw ApiError 409 when someone else got there first.
  virtual nlohmann::json create(const nlohmann::json& lease) = 0;
  virtual nlohmann::json update(const nlohmann::json& lease) = 0;  // PUT with resourceVersion
};

class ClientLeaseApi final : public LeaseApi {
 public:
  ClientLeaseApi(std::shared_ptr<Client> client, std::string ns, std::string name);
  std::optional<nlohmann::json> get() override;
  nlohmann::json create(const nlohmann::json& lease) override;
  nlohmann::json update(const nlohmann::json& lease) override;

 private:
  std::shared_ptr<Client> client_;
  std::string ns_;
  std::string name_;
};

struct LeaderElectionConfig {
  std::string identity;  // unique per candidate, e.g. pod name
  std::string lease_name;
  std::string lease_namespace;
  std::chrono::seconds lease_duration{15};
  Clock::duration renew_deadline = std::chrono::seconds(10);
  Clock::duration retry_period = std::chrono::seconds(2);
  // Candidates retry every retry_period * (1 + retry_jitter * u).
  double retry_jitter = 1.2;
  bool release_on_stop = true;
  // See decide_lease's observed_at. Off = trust the holder's renewTime.
  bool wait_observed_expiry = true;

  // All run on the elector's thread; they must return quickly and not throw.
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
  Logger* log = nullptr;  // what the elector does, at debug; null: nothing
  SleepFn sleep = interruptible_sleep;
};

class LeaderElector {
 public:
  LeaderElector(std::shared_ptr<LeaseApi> api, LeaderElectionConfig config,
                std::shared_ptr<Clock> clock = system_clock(), Random random = default_random());
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // True while leading and the last successful renewal is younger than the
  // renew deadline (and not in the future: a wall clock stepped back ends
  // leadership until the next renewal). Any thread.
  bool is_leader() const;
  // The holder last seen in the lease ("" = none seen).
  std::string leader() const;

  // One round: read the lease, act on the decision, update leadership.
  // Returns the time until the next round. run() calls this in a loop; tests
  // call it directly with a FakeClock.
  Clock::duration step();
  // Stops leading (callback if we were) and, if the lease still names us,
  // hands it over: holderIdentity "", leaseDurationSeconds 1.
  void release();

  // Rounds until `stop`; then stops leading and releases (if configured).
  void run(const std::stop_token& stop);
  void start();  // run() on an owned thread
  void stop();

 private:
  enum class Attempt { Held, HeldByOther, Failed };
  Attempt attempt(Clock::time_point now);
  void observe(const LeaseRecord& record, Clock::time_point now);
  void stop_leading(const std::string& why);
  nlohmann::json new_lease(Clock::time_point now) const;
  void log(const std::string& what) const;
  Clock::duration candidate_wait();

  std::shared_ptr<LeaseApi> api_;
  LeaderElectionConfig config_;
  std::shared_ptr<Clock> clock_;
  Random random_;

  std::atomic<bool> leading_{false};
  // When the lease was last written by us (ns since the clock's epoch):
  // leadership is valid for renew_deadline from there.
  std::atomic<int64_t> renewed_at_ns_{0};

  mutable std::mutex observed_mu_;
  std::string observed_holder_;
  std::string observed_version_;
  Clock::time_point observed_at_{};

  std::jthread thread_;
};

}  // namespace kube
