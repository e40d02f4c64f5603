#include "agent/app.hpp"

#include <signal.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string_view>

#include "agent/claims.hpp"
#include "agent/errno_text.hpp"
#include "agent/options.hpp"
#include "agent/plain_http.hpp"
#include "agent/probe.hpp"
#include "agent/refresher.hpp"
#include "agent/sinks.hpp"
#include "agent/sources.hpp"
#include "agent/sts_probe.hpp"
#include "kube/clock.hpp"
#include "kube/duration.hpp"
#include "kube/log.hpp"
#include "kube/stop_signal.hpp"
#ifdef GTOKEN_AGENT_HTTPS
#include "kube/http.hpp"
#endif

namespace gtoken::agent {

namespace {

HttpFn plain_http_fn(const PlainHttpClient& client) {
  return [&client](const kube::HttpRequest& r) {
    kube::HttpResponse resp;
    kube::StopSignal::interruptible([&] { resp = client.request(r); });
    return resp;
  };
}

PlainHttpOptions plain_http_options(const std::string& origin, const Options& o) {
  PlainHttpOptions h = parse_plain_http_origin(origin);
  h.connect_timeout = std::min(o.request_timeout, std::chrono::milliseconds(3000));
  h.request_timeout = o.request_timeout;
  h.user_agent = version_string();
  return h;
}

#ifdef GTOKEN_AGENT_HTTPS
// Only an https:// --iam-endpoint (the real IAM Credentials API) goes
// through kube::HttpClient (Beast + OpenSSL): the metadata server, and an
// http:// stand-in, do not.
HttpFn https_fn(kube::HttpClient& client) {
  return [&client](const kube::HttpRequest& r) {
    kube::HttpResponse resp;
    kube::StopSignal::interruptible([&] { resp = client.request(r); });
    return resp;
  };
}

kube::HttpOptions https_options(const std::string& base_url, const Options& o) {
  kube::HttpOptions h;
  h.base_url = base_url;
  h.connect_timeout = std::min(o.request_timeout, std::chrono::milliseconds(3000));
  h.request_timeout = o.request_timeout;
  h.max_idle_connections = 1;
  h.user_agent = version_string();
  return h;
}
#endif

// The wall clock and the jitter source (kube::system_clock() and
// kube::default_random() live in gtoken_kube, which gtoken does not link).
class WallClock final : public kube::Clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
  void sleep_for(duration d) override {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d);
    timespec ts{static_cast<time_t>(s.count()), static_cast<long>((d - s).count())};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
};

kube::Random jitter_source() {
  uint64_t seed = 0;
  if (::getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
    seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           static_cast<uint64_t>(::getpid());
  }
  auto gen = std::make_shared<std::mt19937_64>(seed);
  return [gen] { return std::uniform_real_distribution<double>(0.0, 1.0)(*gen); };
}

bool is_https(const std::string& url) { return url.rfind("https://", 0) == 0; }

// The program with TLS: the same agent with kube::HttpClient linked in.
constexpr const char* kHttpsHelper = "gtoken-https";

#ifndef GTOKEN_AGENT_HTTPS
// `gtoken` has no TLS code (every injected pod maps it; see docs/agent.md,
// "Build and footprint"). Only --gcp-service-account with an https://
// --iam-endpoint needs TLS: then the process becomes gtoken-https from the
// same directory, with the same arguments, before doing anything else.
// Returns only if that exec failed, with the reason.
std::string exec_https_helper(char** argv) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    return std::string("cannot find this program: ") + errno_text(errno);
  }
  std::string path(self, static_cast<size_t>(n));
  path = path.substr(0, path.rfind('/') + 1) + kHttpsHelper;
  ::execv(path.c_str(), argv);
  return "cannot run " + path + ": " + errno_text(errno);
}
#endif

// stdout/stderr without iostreams (whose locale set-up alone costs the
// agent RSS in every pod).
void write_fd(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
}

int run_probe(const Options& o) {
  const auto now = std::chrono::system_clock::now();
  ProbeResult r = probe_token_file(o.file, now, o.min_validity);
  kube::Logger log(o.log_level);
  if (o.probe_claims) {
    // Printed whenever the token decodes, expired or not: the caller
    // (kubectl gtoken doctor) judges the claims; the exit code stays the
    // probe's verdict.
    std::string data, why;
    why = read_token_file(o.file, &data);
    std::optional<nlohmann::json> claims;
    if (why.empty()) {
      claims = token_claims(data, now, &why);
    }
    if (claims) {
      write_fd(STDOUT_FILENO,
               claims->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    } else {
      log.error("cannot read the token's claims", {{"file", o.file}, {"reason", why}});
    }
  }
  if (r.ok) {
    log.debug("probe passed", {{"file", o.file}, {"detail", r.reason}});
    return kExitOk;
  }
  log.error("probe failed", {{"file", o.file}, {"reason", r.reason}});
  return kExitFailed;
}

// probe --sts: one AssumeRoleWithWebIdentity, one JSON line on stdout.
// Neither the token (in the request body) nor the credentials (in the
// answer) are printed or logged: the answer goes through sts_answer, which
// keeps the assumed role and AWS's error only.
int run_sts_probe(const Options& o) {
  ::signal(SIGPIPE, SIG_IGN);  // a peer that closes early is an error, not a kill
  kube::Logger log(o.log_level);
  nlohmann::json verdict;
  std::string token;
  if (std::string why = read_token_file(o.file, &token); !why.empty()) {
    verdict = {{"ok", false}, {"error", why}};
  } else {
    kube::HttpRequest req;
    req.method = "POST";
    req.target = "/";
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                   {"Accept", "text/xml"}};
    req.body = web_identity_form(o.role_arn, o.session_name, token);
    try {
      kube::HttpResponse resp;
      if (is_https(o.sts_endpoint)) {
#ifdef GTOKEN_AGENT_HTTPS
        kube::HttpClient client(https_options(o.sts_endpoint, o));
        resp = client.request(req);
#else
        // main_entry execs gtoken-https first; reaching this means it could not.
        throw std::invalid_argument("--sts-endpoint " + o.sts_endpoint +
                                    " needs TLS, which this gtoken leaves to " + kHttpsHelper +
                                    " next to it");
#endif
      } else {
        PlainHttpClient client(plain_http_options(o.sts_endpoint, o));
        resp = client.request(req);
      }
      verdict = sts_answer(resp.status, resp.body);
    } catch (const std::exception& e) {
      verdict = {{"ok", false},
                 {"error", std::string("STS at ") + o.sts_endpoint + ": " + e.what()}};
    }
  }
  verdict["endpoint"] = o.sts_endpoint;
  write_fd(STDOUT_FILENO,
           verdict.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  if (verdict.value("ok", false)) {
    log.debug("sts probe passed", {{"role_arn", o.role_arn}, {"endpoint", o.sts_endpoint}});
    return kExitOk;
  }
  return kExitFailed;
}

int run_agent(const Options& o) {
  // One thread: SIGTERM/SIGINT are blocked here and taken by the refresh
  // loop's sleep (kube::StopSignal::wait_for), or end the process at once during a
  // network exchange (kube::StopSignal::interruptible).
  kube::StopSignal::block_stop_signals(kube::Logger(o.log_level).enabled(kube::LogLevel::info));
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGUSR1, SIG_IGN);  // as before: a stray SIGUSR1 does not end the agent

  kube::Logger log(o.log_level);
  auto clock = std::make_shared<WallClock>();
  kube::StopSignal stop;

  PlainHttpClient metadata(plain_http_options(o.metadata_host, o));
  HttpFn metadata_http = plain_http_fn(metadata);
  std::unique_ptr<PlainHttpClient> iam_plain;
#ifdef GTOKEN_AGENT_HTTPS
  std::unique_ptr<kube::HttpClient> iam_tls;
#endif
  std::unique_ptr<TokenSource> source;
  if (o.gcp_service_account.empty()) {
    source =
        std::make_unique<MetadataTokenSource>(metadata_http, o.audience, o.request_timeout);
  } else {
    HttpFn iam_http;
    if (is_https(o.iam_endpoint)) {
#ifdef GTOKEN_AGENT_HTTPS
      iam_tls = std::make_unique<kube::HttpClient>(https_options(o.iam_endpoint, o));
      iam_http = https_fn(*iam_tls);
#else
      // main_entry execs gtoken-https first; reaching this means it could not.
      throw std::invalid_argument("--iam-endpoint " + o.iam_endpoint +
                                  " needs TLS, which this gtoken leaves to " + kHttpsHelper +
                                  " next to it");
#endif
    } else {
      // http://: a stand-in (tests); the small client is enough.
      iam_plain = std::make_unique<PlainHttpClient>(plain_http_options(o.iam_endpoint, o));
      iam_http = plain_http_fn(*iam_plain);
    }
    source = std::make_unique<IamTokenSource>(metadata_http, iam_http, o.gcp_service_account,
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
  Refresher refresher(*source, out, *clock, jitter_source(), log, ropts);
  WaitFn wait = [&stop, &log](kube::Clock::duration d) {
    const bool was_stopped = stop.stop_requested();
    if (stop.wait_for(d)) {
      return true;
    }
    if (!was_stopped) {
      log.info("signal received; exiting",
               {{"signal", stop.stop_signal() == SIGINT ? "SIGINT" : "SIGTERM"}});
    }
    return false;
  };

  nlohmann::json start = {
      {"version", version_string()},  {"mode", o.mode == Mode::refresh ? "refresh" : "once"},
      {"source", source->describe()}, {"metadata_host", o.metadata_host},
      {"sink", out.describe()},       {"audience", o.audience}};
  if (!o.gcp_service_account.empty()) {
    start["gcp_service_account"] = o.gcp_service_account;
    start["iam_tls"] = is_https(o.iam_endpoint);
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
  if (o.mode == Mode::refresh) {
    refresher.run(wait);
  } else {
    OnceResult r = refresher.run_once(o.once_timeout, wait);
    if (r == OnceResult::timed_out) {
      log.error("no token written before --once-timeout; giving up",
                {{"once_timeout_s", kube::to_seconds(o.once_timeout)},
                 {"attempts", refresher.consecutive_failures()}});
      code = kExitFailed;
    }
  }
  return code;
}

}  // namespace

int main_entry(int argc, char** argv) {
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  ParseResult p = parse_options(args, process_env());
  if (!p.options) {
    write_fd(STDERR_FILENO, "gtoken: " + p.error + "\n\n" + usage());
    return kExitUsage;
  }
  const Options& o = *p.options;
  if (!o.deprecations.empty()) {
    kube::Logger log(o.log_level);
    kube::warn_deprecated(log, o.deprecations);
  }
  switch (o.mode) {
    case Mode::help:
      write_fd(STDOUT_FILENO, usage());
      return kExitOk;
    case Mode::version:
      write_fd(STDOUT_FILENO, version_string() + "\n");
      return kExitOk;
    case Mode::probe:
#ifndef GTOKEN_AGENT_HTTPS
      if (o.probe_sts && is_https(o.sts_endpoint) && argc > 0) {
        const std::string why = exec_https_helper(argv);
        write_fd(STDOUT_FILENO,
                 nlohmann::json{{"ok", false},
                                {"error", why + " (--sts-endpoint " + o.sts_endpoint + " needs " +
                                              kHttpsHelper + " next to gtoken)"},
                                {"endpoint", o.sts_endpoint}}
                         .dump() +
                     "\n");
        return kExitFailed;
      }
#endif
      return o.probe_sts ? run_sts_probe(o) : run_probe(o);
    case Mode::once:
    case Mode::refresh:
      break;
  }
#ifndef GTOKEN_AGENT_HTTPS
  if (!o.gcp_service_account.empty() && is_https(o.iam_endpoint) && argc > 0) {
    const std::string why = exec_https_helper(argv);
    kube::Logger(kube::LogLevel::error)
        .error("cannot start", {{"error", why},
                                {"hint", std::string("--iam-endpoint ") + o.iam_endpoint +
                                             " needs " + kHttpsHelper + " next to gtoken"}});
    return kExitUsage;
  }
#endif
  try {
    return run_agent(o);
  } catch (const std::exception& ex) {
    // Only start-up can throw here (e.g. a malformed --iam-endpoint URL).
    kube::Logger(kube::LogLevel::error).error("cannot start", {{"error", ex.what()}});
    return kExitUsage;
  }
}

}  // namespace gtoken::agent
