// kube/stop_signal: SIGTERM/SIGINT without a watcher thread: taken by the
// wait (a signalfd), woken by another thread, or ending the process at once
// during a network exchange (in a forked child here, since that path
// _exit()s).
#include <doctest/doctest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "kube/stop_signal.hpp"

using kube::format_in_request_exit_line;
using kube::StopSignal;
using namespace std::chrono_literals;

namespace {

// Blocks SIGTERM/SIGINT in this thread for the test's duration (the test
// runner's other threads, if any, never see them: they are sent to this
// thread with pthread_kill).
struct Blocked {
  sigset_t old;
  Blocked() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);
  }
  ~Blocked() {
    // Drop anything still pending before unblocking.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    timespec zero{0, 0};
    while (sigtimedwait(&set, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
};

std::string read_all(int fd) {
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

TEST_CASE("wait_for sleeps the full time when no signal comes") {
  Blocked b;
  StopSignal stop;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(stop.wait_for(30ms));
  CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);  // a lower bound, not a speed
  CHECK(stop.wait_for(0ns));
  CHECK_FALSE(stop.stop_requested());
  CHECK(stop.stop_signal() == 0);
}

TEST_CASE("SIGTERM and SIGINT end the wait, pending or arriving") {
  Blocked b;
  SUBCASE("pending before the wait") {
    StopSignal stop;
    pthread_kill(pthread_self(), SIGTERM);
    CHECK_FALSE(stop.wait_for(60s));
    CHECK(stop.stop_requested());
    CHECK(stop.stop_signal() == SIGTERM);
    CHECK_FALSE(stop.wait_for(60s));  // stays stopped
    CHECK_FALSE(stop.wait_for(0ns));
  }
  SUBCASE("arriving during the wait") {
    StopSignal stop;
    const pthread_t self = pthread_self();
    std::thread sender([self] {
      std::this_thread::sleep_for(50ms);
      pthread_kill(self, SIGINT);
    });
    CHECK_FALSE(stop.wait_for(60s));
    sender.join();
    CHECK(stop.stop_signal() == SIGINT);
  }
  SUBCASE("request_stop without a signal") {
    StopSignal stop;
    stop.request_stop();
    CHECK_FALSE(stop.wait_for(60s));
    CHECK(stop.stop_signal() == 0);
  }
}

TEST_CASE("wake() ends a wait early without stopping; from another thread or before it") {
  Blocked b;
  StopSignal stop;
  SUBCASE("from another thread, during the wait") {
    std::thread waker([&stop] {
      std::this_thread::sleep_for(50ms);
      stop.wake();
    });
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(stop.wait_for(60s));
    CHECK(std::chrono::steady_clock::now() - t0 < 30s);
    waker.join();
    CHECK_FALSE(stop.stop_requested());
    CHECK(stop.stop_signal() == 0);
  }
  SUBCASE("before the wait: the next wait returns at once, and only that one") {
    stop.wake();
    stop.wake();  // two wakes before a wait count as one
    const auto woken = std::chrono::steady_clock::now();
    CHECK(stop.wait_for(60s));
    CHECK(std::chrono::steady_clock::now() - woken < 30s);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(stop.wait_for(30ms));
    CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
  }
  SUBCASE("a signal wins over a pending wake") {
    stop.wake();
    pthread_kill(pthread_self(), SIGTERM);
    CHECK_FALSE(stop.wait_for(60s));
    CHECK(stop.stop_signal() == SIGTERM);
    CHECK(std::string(stop.stop_signal_name()) == "SIGTERM");
  }
}

TEST_CASE("request_stop from another thread ends a wait under way") {
  Blocked b;
  StopSignal stop;
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(50ms);
    stop.request_stop();
  });
  CHECK_FALSE(stop.wait_for(60s));
  stopper.join();
  CHECK(stop.stop_requested());
  CHECK(stop.stop_signal() == 0);
  CHECK(std::string(stop.stop_signal_name()).empty());
}

TEST_CASE("a process-directed SIGTERM reaches the wait while every thread blocks it") {
  // As in gtoken-operator: blocked before any thread starts, the signal sent
  // to the process (kill), other threads running.
  int err[2];
  REQUIRE(::pipe(err) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(err[1], STDERR_FILENO);
    StopSignal::block_stop_signals(false);
    std::atomic<bool> done{false};
    std::thread busy([&done] {
      while (!done) std::this_thread::sleep_for(1ms);
    });
    StopSignal stop;
    ::kill(::getpid(), SIGTERM);
    const bool woke = stop.wait_for(60s);
    done = true;
    busy.join();
    _exit(!woke && stop.stop_signal() == SIGTERM ? 7 : 4);
  }
  ::close(err[1]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
  CHECK(read_all(err[0]).empty());
  ::close(err[0]);
}

TEST_CASE("a signal during interruptible() exits 0 at once, with one log line") {
  for (int sig : {SIGTERM, SIGINT}) {
    CAPTURE(sig);
    int ready[2];
    int err[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(err) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(err[1], STDERR_FILENO);
      ::close(err[0]);
      ::close(ready[0]);
      StopSignal::block_stop_signals(true);
      StopSignal::interruptible([&] {
        (void)!::write(ready[1], "r", 1);
        ::sleep(30);  // "a request that hangs"
      });
      _exit(3);  // not reached: the signal ends the process
    }
    ::close(err[1]);
    ::close(ready[1]);
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::kill(pid, sig);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const std::string log = read_all(err[0]);
    CHECK(log.find("\"msg\":\"exiting with a request in flight\"") != std::string::npos);
    CHECK(log.find(sig == SIGINT ? "\"signal\":\"SIGINT\"" : "\"signal\":\"SIGTERM\"") !=
          std::string::npos);
    CHECK(std::count(log.begin(), log.end(), '\n') == 1);
    ::close(ready[0]);
    ::close(err[0]);
  }
}

TEST_CASE("outside interruptible() a signal waits for the next wait_for") {
  int err[2];
  REQUIRE(::pipe(err) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(err[1], STDERR_FILENO);
    StopSignal::block_stop_signals(false);
    ::kill(::getpid(), SIGTERM);  // "while writing the token file"
    StopSignal stop;
    // Still alive here; the sleep takes the signal.
    _exit(stop.wait_for(60s) ? 4 : 7);
  }
  ::close(err[1]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
  CHECK(read_all(err[0]).empty());
  ::close(err[0]);
}

TEST_CASE("the in-request line is valid JSON in the log format") {
  char buf[192];
  size_t n = format_in_request_exit_line(1700000000123LL, SIGTERM, buf, sizeof buf);
  CHECK(std::string(buf, n) ==
        "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"info\",\"msg\":\"exiting with a "
        "request in flight\",\"signal\":\"SIGTERM\"}\n");
  n = format_in_request_exit_line(951782400000LL, SIGINT, buf, sizeof buf);  // 2000-02-29
  CHECK(std::string(buf, n).rfind("{\"ts\":\"2000-02-29T00:00:00.000Z\"", 0) == 0);
  CHECK(std::string(buf, n).find("\"signal\":\"SIGINT\"") != std::string::npos);
  n = format_in_request_exit_line(1700000000123LL, SIGTERM, buf, 10);  // never overruns
  CHECK(n == 10);
}
