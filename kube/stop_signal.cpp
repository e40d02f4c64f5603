#include "kube/stop_signal.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

namespace kube {

namespace {

volatile sig_atomic_t g_log_in_request = 1;

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Civil date from days since 1970-01-01 (H. Hinnant's algorithm): no locale,
// no allocation, async-signal-safe.
void civil(long long days, int& y, unsigned& m, unsigned& d) {
  days += 719468;
  const long long era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yoe + era * 400 + (m <= 2 ? 1 : 0));
}

char* put(char* p, char* end, const char* s) {
  while (*s && p < end) {
    *p++ = *s++;
  }
  return p;
}

char* put_num(char* p, char* end, long long v, int width) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0 && n < 20);
  while (n < width && n < 20) {
    tmp[n++] = '0';
  }
  while (n > 0 && p < end) {
    *p++ = tmp[--n];
  }
  return p;
}

extern "C" void on_stop_in_request(int sig) {
  if (g_log_in_request) {
    const int saved = errno;
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[192];
    size_t n = format_in_request_exit_line(
        static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000, sig, line, sizeof line);
    ssize_t w = ::write(STDERR_FILENO, line, n);
    (void)w;
    errno = saved;
  }
  _exit(0);
}

}  // namespace

size_t format_in_request_exit_line(long long unix_ms, int sig, char* buf, size_t size) {
  char* p = buf;
  char* end = buf + size;
  const long long secs = unix_ms / 1000;
  const long long days = secs / 86400;
  const long long sod = secs % 86400;
  int y = 0;
  unsigned mo = 0;
  unsigned d = 0;
  civil(days, y, mo, d);
  p = put(p, end, "{\"ts\":\"");
  p = put_num(p, end, y, 4);
  p = put(p, end, "-");
  p = put_num(p, end, mo, 2);
  p = put(p, end, "-");
  p = put_num(p, end, d, 2);
  p = put(p, end, "T");
  p = put_num(p, end, sod / 3600, 2);
  p = put(p, end, ":");
  p = put_num(p, end, sod / 60 % 60, 2);
  p = put(p, end, ":");
  p = put_num(p, end, sod % 60, 2);
  p = put(p, end, ".");
  p = put_num(p, end, unix_ms % 1000, 3);
  p = put(p, end,
          "Z\",\"level\":\"info\",\"msg\":\"exiting with a request in flight\",\"signal\":\"");
  p = put(p, end, sig == SIGINT ? "SIGINT" : "SIGTERM");
  p = put(p, end, "\"}\n");
  return static_cast<size_t>(p - buf);
}

void StopSignal::block_stop_signals(bool log_in_request) {
  g_log_in_request = log_in_request ? 1 : 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_in_request;
  sigfillset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StopSignal::StopSignal() {
  const sigset_t set = stop_set();
  signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "signalfd");
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    const int err = errno;
    ::close(signal_fd_);
    throw std::system_error(err, std::generic_category(), "eventfd");
  }
}

StopSignal::~StopSignal() {
  ::close(signal_fd_);
  ::close(wake_fd_);
}

const char* StopSignal::stop_signal_name() const {
  switch (signal_.load()) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "";
  }
}

bool StopSignal::wait_for(std::chrono::nanoseconds d) {
  if (stop_.load()) {
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + d;
  for (;;) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left.count() < 0) {
      left = std::chrono::nanoseconds::zero();
    }
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(left);
    const timespec ts{
        static_cast<time_t>(s.count()),
        static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(left - s).count())};
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int n = ::ppoll(fds, 2, &ts, nullptr);
    if (n < 0 && errno != EINTR) {
      return true;  // cannot wait on the descriptors: as if the time passed
    }
    if (n > 0 && (fds[0].revents & POLLIN)) {
      signalfd_siginfo info{};
      if (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info) &&
          (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT)) {
        signal_.store(static_cast<int>(info.ssi_signo));
        stop_.store(true);
        return false;
      }
    }
    if (stop_.load()) {
      return false;
    }
    if (n > 0 && (fds[1].revents & POLLIN)) {
      uint64_t count = 0;
      (void)!::read(wake_fd_, &count, sizeof count);  // resets the counter
      return true;
    }
    if (n == 0 || std::chrono::steady_clock::now() >= deadline) {
      return true;  // the time passed
    }
    // EINTR (another signal's handler ran) or a signal read by someone
    // else: sleep on.
  }
}

void StopSignal::wake() {
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void StopSignal::interruptible(const std::function<void()>& f) {
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  struct Reblock {
    sigset_t set;
    ~Reblock() { pthread_sigmask(SIG_BLOCK, &set, nullptr); }
  } reblock{set};
  f();
}

}  // namespace kube
