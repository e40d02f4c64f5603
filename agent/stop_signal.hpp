#pragma once
// SIGTERM/SIGINT for a single-threaded agent, with no watcher thread.
//
// block_stop_signals() blocks both in the (only) thread and installs the
// in-request handler. From then on:
//   - asleep: the refresh loop sleeps in wait_for(), which is sigtimedwait()
//     on the two signals, so a stop wakes it at once and is taken
//     synchronously (logged, the loop returns, the process exits 0);
//   - in a network exchange (interruptible()): the two signals are unblocked
//     for the duration of the call, and the handler writes one log line and
//     _exit(0)s at once. Nothing is written to the token file during a
//     network exchange (the file write happens with the signals blocked), so
//     an exit there never lands between creating and renaming a temp file;
//   - anywhere else (writing the file, logging): the signal stays pending
//     until the next wait_for() or interruptible().
// request_stop() sets the same flag without a signal (tests).

#include <atomic>
#include <chrono>
#include <functional>

namespace gtoken::agent {

class StopSignal {
 public:
  // Blocks SIGTERM and SIGINT in the calling thread and installs the
  // handler used by interruptible(). `log_in_request`: whether the handler
  // writes its "exiting with a request in flight" line (an info line).
  static void block_stop_signals(bool log_in_request = true);

  void request_stop() { stop_.store(true); }
  bool stop_requested() const { return stop_.load(); }
  // The signal that stopped the agent (SIGTERM, SIGINT), 0 if none.
  int stop_signal() const { return signal_; }

  // Sleeps up to d, real time, or until SIGTERM or SIGINT arrives (they must
  // be blocked: block_stop_signals()). Returns false if a stop was requested
  // or a signal taken, before or during the wait; true if the time passed.
  bool wait_for(std::chrono::nanoseconds d);

  // Runs f with SIGTERM and SIGINT deliverable: either ends the process at
  // once, exit code 0. Must not write the token file.
  static void interruptible(const std::function<void()>& f);

 private:
  std::atomic<bool> stop_{false};
  int signal_ = 0;
};

// The line the in-request handler writes (exposed for tests): RFC 3339 ts
// from `unix_ms`, built without allocation.
size_t format_in_request_exit_line(long long unix_ms, int sig, char* buf, size_t size);

}  // namespace gtoken::agent
