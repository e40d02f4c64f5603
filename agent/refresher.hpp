#pragma once
// The refresh loop: fetch a token, check it, write it, schedule the next
// fetch; on failure back off and keep the current file while it is valid.
//
// Everything that touches the world is injected (TokenSource, TokenSink,
// Clock, Random, Logger, and the wait function), so tests walk every fault
// path on a FakeClock without sleeping.
//
// Failure pacing (consecutive failures n, reset by a success; kube/backoff.hpp,
// doubling, jitter takes up to 20 % off):
//   transient and write errors      1 s doubling, cap 30 s
//   config, invalid-token and wrong-audience errors 5 s doubling, cap 120 s
// A token whose `aud` is not opts.audience is never written (an empty
// audience refuses every token): the file keeps the last good token.
// While the token in the file is still valid, no retry is scheduled later
// than half of its remaining validity (at least 1 s): retries get denser
// towards exp instead of sleeping through it.
// The agent never gives up in refresh mode: an operator may fix a binding
// at any time, and the next attempt picks it up.

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "agent/schedule.hpp"
#include "agent/token_source.hpp"
#include "kube/backoff.hpp"
#include "kube/clock.hpp"
#include "kube/log.hpp"

namespace gtoken::agent {

struct RefresherOptions {
  // The `aud` every token must carry (--audience). Required: with an empty
  // audience every token is refused.
  std::string audience;
  RefreshPolicy policy;
  kube::BackoffPolicy transient_backoff{std::chrono::seconds(1), std::chrono::seconds(30), 2.0,
                                        0.2};
  kube::BackoffPolicy config_backoff{std::chrono::seconds(5), std::chrono::seconds(120), 2.0, 0.2};
  // While the current token is valid, a retry is never scheduled later than
  // half its remaining validity from now, nor sooner than this.
  std::chrono::milliseconds min_retry_delay{1000};
  // run() sleeps at most this long at a time, then re-reads the clock, so a
  // suspended VM or a wall-clock step cannot make it oversleep an expiry.
  std::chrono::milliseconds max_wait_slice{30000};
};

// Sleeps up to d; returns false if the agent should stop.
using WaitFn = std::function<bool(kube::Clock::duration)>;

struct StepResult {
  bool ok = false;
  std::optional<FetchError> error;  // set when !ok
  kube::Clock::time_point next;     // when the next attempt is due
  kube::Clock::duration delay{};    // next - now at the end of the step
};

enum class OnceResult { written, timed_out, stopped };

// Counters since start (the agent serves no /metrics; these are logged).
struct RefresherStats {
  long long written = 0;            // tokens written
  long long failed = 0;             // failed attempts, all kinds
  long long rejected_audience = 0;  // tokens refused for their aud
};

class Refresher {
 public:
  Refresher(TokenSource& source, TokenSink& sink, kube::Clock& clock, kube::Random random,
            kube::Logger& log, RefresherOptions opts = {});

  // One attempt.
  StepResult step();

  // Refresh forever; returns only when `wait` reports a stop.
  void run(const WaitFn& wait);

  // Try until a token is written or `timeout` has passed on the clock (one
  // last attempt is made at the deadline).
  OnceResult run_once(std::chrono::milliseconds timeout, const WaitFn& wait);

  // Timing of the token most recently written, if any.
  const std::optional<JwtTimes>& current() const { return current_; }
  int consecutive_failures() const { return failures_; }
  const RefresherStats& stats() const { return stats_; }

 private:
  StepResult fail(kube::Clock::time_point now, FetchError err);

  TokenSource& source_;
  TokenSink& sink_;
  kube::Clock& clock_;
  kube::Random random_;
  kube::Logger& log_;
  RefresherOptions opts_;
  std::optional<JwtTimes> current_;
  int failures_ = 0;
  RefresherStats stats_;
  bool once_ = false;                                     // run_once: no next refresh to announce
  std::optional<kube::Clock::time_point> once_deadline_;  // no retry after it
};

}  // namespace gtoken::agent
