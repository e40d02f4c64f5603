#include "agent/app.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "agent/duration.hpp"
#include "agent/log.hpp"
#include "agent/options.hpp"
#include "agent/probe.hpp"
#include "agent/refresher.hpp"
#include "agent/sinks.hpp"
#include "agent/sources.hpp"
#include "agent/stop_signal.hpp"
#include "kube/clock.hpp"
#include "kube/http.hpp"

namespace gtoken::agent {

namespace {

// After a stop request the main thread normally returns within
// microseconds; if it is stuck in an HTTP request (up to --request-timeout),
// the signal thread ends the process after this grace time.
constexpr std::chrono::milliseconds kStopGrace{50};

HttpFn http_fn(kube::HttpClient& client) {
  return [&client](const kube::HttpRequest& r) { return client.request(r); };
}

kube::HttpOptions http_options(const std::string& base_url, const Options& o) {
  kube::HttpOptions h;
  h.base_url = base_url;
  h.connect_timeout = std::min(o.request_timeout, std::chrono::milliseconds(3000));
  h.request_timeout = o.request_timeout;
  h.max_idle_connections = 1;
  h.user_agent = version_string();
  return h;
}

// Owns the thread that waits for SIGTERM/SIGINT with sigwait. The signals
// must be blocked in every thread, so block() runs before any other thread
// exists.
class SignalWatcher {
 public:
  static void block(sigset_t& set) {
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);  // internal: wakes the watcher at shutdown
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

  SignalWatcher(const sigset_t& set, StopSignal& stop, Logger& log, FileSink* file_sink)
      : set_(set), stop_(stop), log_(log), file_sink_(file_sink) {
    thread_ = std::thread([this] { loop(); });
  }

  // Called by the main thread once it is done (normally or after a stop).
  ~SignalWatcher() {
    finished_.store(true);
    main_done_.request_stop();
    // Wake sigwait if no stop signal came.
    if (!got_signal_.load()) {
      pthread_kill(thread_.native_handle(), SIGUSR1);
    }
    thread_.join();
  }

 private:
  void loop() {
    int sig = 0;
    for (;;) {
      if (sigwait(&set_, &sig) != 0 || finished_.load()) {
        return;
      }
      if (sig != SIGUSR1) {
        break;  // a stray external SIGUSR1 is ignored
      }
    }
    got_signal_.store(true);
    log_.info("signal received; exiting", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    stop_.request_stop();
    if (!main_done_.wait_for(kStopGrace)) {
      return;  // main thread finished in time
    }
    // Stuck in a request: never cut a file write in half, then leave.
    if (file_sink_) {
      file_sink_->busy().lock();
    }
    log_.info("exiting with a request in flight");
    std::fflush(stdout);
    std::_Exit(kExitOk);
  }

  sigset_t set_;
  StopSignal& stop_;
  Logger& log_;
  FileSink* file_sink_;
  StopSignal main_done_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> got_signal_{false};
  std::thread thread_;
};

int run_probe(const Options& o) {
  ProbeResult r = probe_token_file(o.file, std::chrono::system_clock::now(), o.min_validity);
  Logger log(o.log_level);
  if (r.ok) {
    log.debug("probe passed", {{"file", o.file}, {"detail", r.reason}});
    return kExitOk;
  }
  log.error("probe failed", {{"file", o.file}, {"reason", r.reason}});
  return kExitFailed;
}

int run_agent(const Options& o) {
  sigset_t set;
  SignalWatcher::block(set);
  ::signal(SIGPIPE, SIG_IGN);

  Logger log(o.log_level);
  auto clock = kube::system_clock();
  StopSignal stop;

  kube::HttpClient metadata(http_options("http://" + o.metadata_host, o));
  std::unique_ptr<kube::HttpClient> iam;
  std::unique_ptr<TokenSource> source;
  if (o.gcp_service_account.empty()) {
    source =
        std::make_unique<MetadataTokenSource>(http_fn(metadata), o.audience, o.request_timeout);
  } else {
    iam = std::make_unique<kube::HttpClient>(http_options(o.iam_endpoint, o));
    source =
        std::make_unique<IamTokenSource>(http_fn(metadata), http_fn(*iam), o.gcp_service_account,
                                         o.audience, *clock, o.request_timeout);
  }

  std::unique_ptr<FileSink> file_sink;
  std::unique_ptr<TokenSink> sink;
  if (o.file.empty()) {
    sink = std::make_unique<StdoutSink>();
  } else {
    file_sink = std::make_unique<FileSink>(o.file, o.file_mode);
  }
  TokenSink& out = file_sink ? static_cast<TokenSink&>(*file_sink) : *sink;

  RefresherOptions ropts;
  ropts.audience = o.audience;
  ropts.policy = o.policy;
  Refresher refresher(*source, out, *clock, kube::default_random(), log, ropts);
  WaitFn wait = [&stop](kube::Clock::duration d) { return stop.wait_for(d); };

  nlohmann::json start = {
      {"version", version_string()},  {"mode", o.mode == Mode::refresh ? "refresh" : "once"},
      {"source", source->describe()}, {"metadata_host", o.metadata_host},
      {"sink", out.describe()},       {"audience", o.audience}};
  if (!o.gcp_service_account.empty()) {
    start["gcp_service_account"] = o.gcp_service_account;
  }
  log.info("starting", start);

  if (file_sink) {
    // A crash between creating and renaming a temp file leaves it behind.
    const SweepResult swept = sweep_stale_temp_files(o.file);
    for (const auto& name : swept.removed) {
      log.info("removed a stale temp file", {{"file", name}});
    }
    for (const auto& problem : swept.errors) {
      log.warn("could not sweep stale temp files", {{"error", problem}});
    }
  }

  int code = kExitOk;
  {
    SignalWatcher watcher(set, stop, log, file_sink.get());
    if (o.mode == Mode::refresh) {
      refresher.run(wait);
    } else {
      OnceResult r = refresher.run_once(o.once_timeout, wait);
      if (r == OnceResult::timed_out) {
        log.error("no token written before --once-timeout; giving up",
                  {{"once_timeout_s", seconds(o.once_timeout)},
                   {"attempts", refresher.consecutive_failures()}});
        code = kExitFailed;
      }
    }
  }
  return code;
}

}  // namespace

int main_entry(int argc, char** argv) {
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  ParseResult p = parse_options(args, process_env());
  if (!p.options) {
    std::cerr << "gtoken: " << p.error << "\n\n" << usage();
    return kExitUsage;
  }
  const Options& o = *p.options;
  switch (o.mode) {
    case Mode::help:
      std::cout << usage();
      return kExitOk;
    case Mode::version:
      std::cout << version_string() << "\n";
      return kExitOk;
    case Mode::probe:
      return run_probe(o);
    case Mode::once:
    case Mode::refresh:
      break;
  }
  try {
    return run_agent(o);
  } catch (const std::exception& ex) {
    // Only start-up can throw here (e.g. a malformed --iam-endpoint URL).
    Logger(Level::error).error("cannot start", {{"error", ex.what()}});
    return kExitUsage;
  }
}

}  // namespace gtoken::agent
