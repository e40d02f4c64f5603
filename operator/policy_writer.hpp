#pragma once
// Read-modify-write of Google IAM policies, one GSA at a time, shared by all
// reconciles of the process.
//
// - Group commit: reconciles that change the policy of the same GSA while a
//   write to it is in flight queue up, and the next write carries all their
//   changes (one getIamPolicy + one setIamPolicy for many bindings). Without
//   it, bindings sharing a GSA abort each other's writes (409) and every
//   binding costs a write against Google's per-project IAM write quota.
// - A short-lived cache of each policy (as read, or as returned by our own
//   setIamPolicy): a binding whose member the cached policy already shows
//   costs no call at all, and a write starts from it (a stale etag answers
//   409 and the policy is read again). The TTL bounds how late drift made in
//   Google is seen; keep it well under the resync period.
//
// Pure logic around two injected calls, so it is unit-tested without Google.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kube/backoff.hpp"
#include "kube/clock.hpp"

namespace gtoken {

class PolicyWriter {
 public:
  using json = nlohmann::json;
  using Read = std::function<json(const std::string& gsa)>;
  using Write = std::function<json(const std::string& gsa, const json& policy)>;
  // Retry a write that failed with this (409 ABORTED: concurrent change).
  using IsConflict = std::function<bool(const std::exception&)>;

  struct Options {
    std::chrono::milliseconds cache_ttl{30000};
    int conflict_retries = 6;
    kube::BackoffPolicy backoff{std::chrono::milliseconds(200), std::chrono::seconds(5), 2.0,
                                kube::Jitter::Full};
    // Called before every write (the leader check); may throw.
    std::function<void()> before_write = [] {};
    // Called after every write with the member changes it carried.
    std::function<void(const std::string& gsa, size_t changes)> on_write;
  };

  PolicyWriter(Read read, Write write, IsConflict is_conflict, Options options,
               std::shared_ptr<kube::Clock> clock = kube::system_clock(),
               kube::Random random = kube::default_random());

  // Makes `member` a member (add) or not (remove) of the unconditional
  // binding of `role` on `gsa`'s policy. Returns once a write carrying the
  // change succeeded, or the policy was seen to need none; throws what the
  // read or write threw (for every change of that batch).
  void apply(const std::string& gsa, const std::string& role, const std::string& member, bool add);

  // Drops the cached policy of `gsa` (e.g. after Google said it is gone).
  void forget(const std::string& gsa);

  struct Stats {
    size_t reads = 0;
    size_t writes = 0;
    size_t cache_hits = 0;
    size_t conflicts = 0;
  };
  Stats stats() const;

 private:
  struct Change {
    std::string role;
    std::string member;
    bool add;
    bool done = false;
    std::exception_ptr error;
  };
  struct Gsa {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Change*> pending;
    bool busy = false;
    json policy;  // cached; null when none
    kube::Clock::time_point read_at{};
  };

  std::shared_ptr<Gsa> state(const std::string& gsa);
  // One read-modify-write with retries; runs without the Gsa lock.
  void commit(const std::string& gsa, Gsa& st, const std::vector<Change*>& batch);

  Read read_;
  Write write_;
  IsConflict is_conflict_;
  Options options_;
  std::shared_ptr<kube::Clock> clock_;
  kube::Random random_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Gsa>> gsas_;
  Stats stats_;
};

}  // namespace gtoken
