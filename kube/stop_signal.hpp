#pragma once
// The one SIGTERM/SIGINT watcher of gtoken's programs, with no watcher
// thread: the agent's single thread and gtoken-operator's main loop wait in
// it directly.
//
// block_stop_signals() blocks both in the calling thread (call it before any
// other thread starts: threads inherit the mask, so no thread takes the
// signal's default action) and installs the in-request handler. From then on:
//   - waiting: wait_for() polls a signalfd for the two signals (and an
//     eventfd for wake()), so a stop ends the wait at once and is taken
//     synchronously (the caller logs it and returns);
//   - in a network exchange (interruptible(), the agent only): the two
//     signals are unblocked for the duration of the call, and the handler
//     writes one log line and _exit(0)s at once. The agent writes nothing to
//     its token file during an exchange (the file write happens with the
//     signals blocked), so an exit there never lands between creating and
//     renaming a temp file;
//   - anywhere else (writing the file, logging): the signal stays pending
//     until the next wait_for() or interruptible().
// request_stop() sets the same flag without a signal. wake() lets another
// thread end a wait early (the operator's leadership changes).
//
// One StopSignal per process at a time (each reads the same pending
// signals). Part of gtoken_base: no threads, no libm.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>

namespace kube {

class StopSignal {
 public:
  // Blocks SIGTERM and SIGINT in the calling thread and installs the
  // handler used by interruptible(). `log_in_request`: whether the handler
  // writes its "exiting with a request in flight" line (an info line).
  static void block_stop_signals(bool log_in_request = true);

  // Throws std::system_error when the process has no file descriptor left.
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Stops without a signal: the current or next wait_for() returns false.
  void request_stop() {
    stop_.store(true);
    wake();
  }
  bool stop_requested() const { return stop_.load(); }
  // The signal that stopped the process (SIGTERM, SIGINT), 0 if none.
  int stop_signal() const { return signal_.load(); }
  // "SIGTERM", "SIGINT", or "" when no signal stopped it (log fields).
  const char* stop_signal_name() const;

  // Sleeps up to d, real time, or until SIGTERM or SIGINT arrives (they must
  // be blocked: block_stop_signals()) or wake() is called. Returns false if a
  // stop was requested or a signal taken, before or during the wait; true if
  // the time passed or it was woken. Call from one thread at a time.
  bool wait_for(std::chrono::nanoseconds d);

  // Ends the current wait_for() early (or the next one, if none is under
  // way). Thread-safe.
  void wake();

  // Runs f with SIGTERM and SIGINT deliverable: either ends the process at
  // once, exit code 0. Must not write the token file.
  static void interruptible(const std::function<void()>& f);

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> signal_{0};
  int signal_fd_ = -1;
  int wake_fd_ = -1;
};

// The line the in-request handler writes (exposed for tests): RFC 3339 ts
// from `unix_ms`, built without allocation.
size_t format_in_request_exit_line(long long unix_ms, int sig, char* buf, size_t size);

}  // namespace kube
