#include <doctest/doctest.h>

#include "agent/refresher.hpp"
#include "agent/testing/fakes.hpp"

using namespace gtoken::agent;
using namespace gtoken::agent::testing;
using namespace std::chrono_literals;

namespace {

// A refresher on a FakeClock with a scripted source, a recording sink and
// captured logs; r = 0 makes every delay the documented maximum.
struct Harness {
  kube::FakeClock clock{TimePoint{} + std::chrono::seconds(1700000000)};
  ScriptedSource source;
  RecordingSink sink;
  LogCapture logs;
  double r = 0.0;
  Refresher refresher{source, sink, clock, [this] { return r; }, logs.logger, options()};

  static RefresherOptions options(std::string audience = "sts.amazonaws.com") {
    RefresherOptions o;
    o.audience = std::move(audience);  // make_jwt's default aud
    return o;
  }

  // A fresh one-hour token issued now.
  std::string fresh(std::chrono::seconds lifetime = 3600s) {
    return make_jwt(clock.now(), clock.now() + lifetime);
  }
  FetchResult ok(std::chrono::seconds lifetime = 3600s) {
    return FetchResult::success(fresh(lifetime));
  }
  // Steps once and advances the clock to the next attempt.
  StepResult step_and_wait() {
    StepResult s = refresher.step();
    clock.set(s.next);
    return s;
  }
  nlohmann::json last_log() const { return logs.parsed().back(); }
};

}  // namespace

TEST_CASE("success writes the token and schedules at 50-60% of its lifetime") {
  Harness h;
  const auto t0 = h.clock.now();
  const std::string tok = h.fresh();
  h.source.script.push_back(FetchResult::success(tok));
  StepResult s = h.refresher.step();
  CHECK(s.ok);
  CHECK(s.next == t0 + 36min);  // r = 0: latest point of the window
  CHECK(h.sink.written == std::vector<std::string>{tok});
  REQUIRE(h.refresher.current());
  CHECK(h.refresher.current()->exp == t0 + 1h);
  CHECK(h.refresher.consecutive_failures() == 0);
  auto log = h.last_log();
  CHECK(log["level"] == "info");
  CHECK(log["msg"] == "token written");
  CHECK(log["exp"] == format_rfc3339(t0 + 1h));
  CHECK(log["next_refresh_in_s"] == doctest::Approx(2160));
}

TEST_CASE("transient errors back off 1s, 2s, 4s ... capped at 30s, and keep the old token") {
  Harness h;
  const auto t0 = h.clock.now();
  const std::string tok = h.fresh();
  h.source.script.push_back(FetchResult::success(tok));
  h.step_and_wait();  // now at t0 + 36 min

  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 8; ++i) {
    h.source.script.push_back(i % 2 ? network_failure() : http_failure(503));
    StepResult s = h.step_and_wait();
    CHECK_FALSE(s.ok);
    REQUIRE(s.error);
    CHECK(s.error->kind == ErrorKind::transient);
    delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(s.delay));
  }
  CHECK(delays == std::vector<std::chrono::milliseconds>{1s, 2s, 4s, 8s, 16s, 30s, 30s, 30s});
  CHECK(h.refresher.consecutive_failures() == 8);
  // The file was never touched; the token is still valid, so these are warnings.
  CHECK(h.sink.written == std::vector<std::string>{tok});
  CHECK(h.refresher.current()->exp == t0 + 1h);
  auto log = h.last_log();
  CHECK(log["level"] == "warn");
  CHECK(log["msg"] == "token refresh failed; keeping the current token");
  CHECK(log["current_exp"] == format_rfc3339(t0 + 1h));
  CHECK(log["attempt"] == 8);
  CHECK(log["retry_in_s"] == doctest::Approx(30));
}

TEST_CASE("while the kept token is valid, retries never wait past half its remaining validity") {
  Harness h;
  const auto t0 = h.clock.now();
  h.source.script.push_back(h.ok(100s));
  h.step_and_wait();  // r = 0: refresh at 60 s, 40 s of validity left
  REQUIRE(h.clock.now() == t0 + 60s);
  h.source.fallback = [] { return http_failure(503); };
  std::vector<std::chrono::milliseconds> delays;
  while (h.clock.now() < t0 + 100s) {
    StepResult s = h.step_and_wait();
    CHECK_FALSE(s.ok);
    delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(s.delay));
  }
  // 1, 2, 4, 8 as usual (at 60, 61, 63, 67 s); then 16 s would pass exp at
  // 100 s: half of what is left (25 s -> 12.5 s), and so on down to 1 s.
  CHECK(delays == std::vector<std::chrono::milliseconds>{1s, 2s, 4s, 8s, 12500ms, 6250ms, 3125ms,
                                                         1562ms, 1s, 1s});
  CHECK(h.last_log()["level"] == "warn");
  // Past exp the ordinary backoff applies again, logged as errors.
  StepResult s = h.step_and_wait();
  CHECK(s.delay == 30s);
  CHECK(h.last_log()["level"] == "error");
  // A config error is capped the same way while the token is valid.
  Harness c;
  c.source.script.push_back(c.ok(100s));
  c.step_and_wait();
  c.source.script.push_back(http_failure(404));
  CHECK(c.refresher.step().delay == 5s);
  c.clock.advance(30s);  // 10 s left
  c.source.script.push_back(http_failure(404));
  CHECK(c.refresher.step().delay == 5s);
  c.clock.advance(4s);  // 6 s left: 20 s backoff capped at 3 s
  c.source.script.push_back(http_failure(404));
  CHECK(c.refresher.step().delay == 3s);
}

TEST_CASE("every retryable status is transient; jitter shortens the wait by up to 20%") {
  for (int status : {408, 429, 500, 502, 503, 504}) {
    Harness h;
    h.r = 0.5;
    h.source.script.push_back(http_failure(status));
    StepResult s = h.refresher.step();
    CHECK(s.error->kind == ErrorKind::transient);
    CHECK(s.delay == 900ms);
  }
}

TEST_CASE("recovery resets the backoff and is logged") {
  Harness h;
  for (int i = 0; i < 4; ++i) {
    h.source.script.push_back(network_failure());
  }
  h.source.fallback = [&] { return h.ok(); };
  for (int i = 0; i < 4; ++i) {
    CHECK_FALSE(h.step_and_wait().ok);
  }
  StepResult s = h.step_and_wait();
  CHECK(s.ok);
  CHECK(h.refresher.consecutive_failures() == 0);
  CHECK(h.sink.written.size() == 1);
  CHECK(h.logs.parsed().back()["recovered_after_failures"] == 4);
  // The next failure starts again at 1s.
  h.source.script.push_back(network_failure());
  CHECK(h.refresher.step().delay == 1s);
}

TEST_CASE("404 is reported with the binding hint and retried at the slow pace") {
  Harness h;
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 7; ++i) {
    h.source.script.push_back(http_failure(
        404, "this pod's KSA is not bound to a GSA: check iam.gke.io/gcp-service-account"));
    StepResult s = h.step_and_wait();
    REQUIRE(s.error);
    CHECK(s.error->kind == ErrorKind::config);
    delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(s.delay));
  }
  CHECK(delays == std::vector<std::chrono::milliseconds>{5s, 10s, 20s, 40s, 80s, 120s, 120s});
  auto log = h.last_log();
  CHECK(log["level"] == "error");
  CHECK(log["msg"] == "token fetch failed; no token written yet; retrying");
  CHECK(log["http_status"] == 404);
  CHECK(log["kind"] == "config");
  CHECK(log["hint"].get<std::string>().find("iam.gke.io/gcp-service-account") != std::string::npos);
  CHECK(h.sink.written.empty());

  // The operator fixes the binding: the next attempt succeeds.
  h.source.script.push_back(h.ok());
  CHECK(h.step_and_wait().ok);
  CHECK(h.sink.written.size() == 1);
}

TEST_CASE("400 and 403 are config errors too") {
  for (int status : {400, 401, 403}) {
    Harness h;
    h.source.script.push_back(http_failure(status));
    StepResult s = h.refresher.step();
    CHECK(s.error->kind == ErrorKind::config);
    CHECK(s.delay == 5s);
    CHECK(h.last_log()["level"] == "error");
  }
}

TEST_CASE("a 200 that is not a JWT with exp is never written") {
  Harness h;
  h.source.script.push_back(FetchResult::success("<html>captive portal</html>"));
  h.source.script.push_back(FetchResult::success(make_jwt({{"iat", 1700000000}, {"aud", "x"}})));
  for (int i = 0; i < 2; ++i) {
    StepResult s = h.step_and_wait();
    CHECK(s.error->kind == ErrorKind::invalid_token);
  }
  CHECK(h.sink.written.empty());
  CHECK(h.logs.contains("not a JWT"));
  CHECK(h.logs.contains("JWT has no exp claim"));
  CHECK_FALSE(h.logs.contains("captive portal"));
}

TEST_CASE("an already expired token is refused (local clock check)") {
  Harness h;
  const auto now = h.clock.now();
  h.source.script.push_back(FetchResult::success(make_jwt(now - 2h, now - 1h)));
  StepResult s = h.refresher.step();
  CHECK(s.error->kind == ErrorKind::invalid_token);
  CHECK(h.sink.written.empty());
  CHECK(h.last_log()["hint"] == "check the node's clock");
}

TEST_CASE("a token for another audience is never written; the last good token stays") {
  Harness h;
  const auto t0 = h.clock.now();
  const std::string good = h.fresh();
  h.source.script.push_back(FetchResult::success(good));
  REQUIRE(h.step_and_wait().ok);  // now at t0 + 36 min

  std::vector<std::string> wrong;
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 3; ++i) {
    wrong.push_back(make_jwt(h.clock.now(), h.clock.now() + 1h, "https://evil.example/aud"));
    h.source.script.push_back(FetchResult::success(wrong.back()));
    StepResult s = h.step_and_wait();
    CHECK_FALSE(s.ok);
    REQUIRE(s.error);
    CHECK(s.error->kind == ErrorKind::wrong_audience);
    delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(s.delay));
  }
  // Retried at the config pace (5 s, 10 s, 20 s; r = 0), well inside half
  // of the kept token's remaining validity.
  CHECK(delays == std::vector<std::chrono::milliseconds>{5s, 10s, 20s});
  CHECK(h.sink.written == std::vector<std::string>{good});
  CHECK(h.refresher.current()->exp == t0 + 1h);
  CHECK(h.refresher.stats().rejected_audience == 3);
  CHECK(h.refresher.stats().written == 1);
  CHECK(h.refresher.stats().failed == 3);

  auto log = h.last_log();
  CHECK(log["level"] == "error");
  CHECK(log["msg"] == "token refresh failed; keeping the current token");
  CHECK(log["kind"] == "wrong_audience");
  CHECK(log["rejected_audience_total"] == 3);
  CHECK(log["current_exp"] == format_rfc3339(t0 + 1h));
  const std::string err = log["error"];
  CHECK(err.find("\"https://evil.example/aud\"") != std::string::npos);
  CHECK(err.find("expected \"sts.amazonaws.com\"") != std::string::npos);
  CHECK(log["hint"].get<std::string>().find("--audience") != std::string::npos);
  for (const auto& t : wrong) {
    CHECK_FALSE(h.logs.contains(t));
    CHECK_FALSE(h.logs.contains(t.substr(t.find('.') + 1, 20)));
    CHECK_FALSE(h.logs.contains(t.substr(t.rfind('.') + 1)));
  }

  // The source behaves again: written, backoff reset, recovery logged.
  h.source.script.push_back(h.ok());
  CHECK(h.step_and_wait().ok);
  CHECK(h.sink.written.size() == 2);
  CHECK(h.last_log()["recovered_after_failures"] == 3);
  CHECK(h.refresher.stats().rejected_audience == 3);
}

TEST_CASE("aud: one string or an array holding the audience; missing or other types refused") {
  const auto now = TimePoint{} + std::chrono::seconds(1700000000);
  auto claims = [&](nlohmann::json aud) {
    nlohmann::json c = {{"iat", unix_seconds(now)}, {"exp", unix_seconds(now + 1h)}};
    if (!aud.is_null()) {
      c["aud"] = std::move(aud);
    }
    return make_jwt(c);
  };
  struct Case {
    nlohmann::json aud;
    bool written;
  };
  const std::vector<Case> cases = {
      {"sts.amazonaws.com", true},
      {nlohmann::json::array({"other", "sts.amazonaws.com"}), true},
      {nlohmann::json::array({"other", "STS.amazonaws.com"}), false},  // exact match only
      {"sts.amazonaws.com ", false},
      {"", false},
      {nullptr, false},  // no aud claim
      {nlohmann::json::array(), false},
      {42, false},
      {nlohmann::json::object({{"sts.amazonaws.com", true}}), false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.aud.dump());
    Harness h;
    h.source.script.push_back(FetchResult::success(claims(c.aud)));
    StepResult s = h.refresher.step();
    CHECK(s.ok == c.written);
    CHECK(h.sink.written.size() == (c.written ? 1u : 0u));
    if (!c.written) {
      REQUIRE(s.error);
      CHECK(s.error->kind == ErrorKind::wrong_audience);
      CHECK(s.delay == 5s);
      CHECK(h.last_log()["msg"] == "token fetch failed; no token written yet; retrying");
    }
  }
}

TEST_CASE("a hostile aud is logged printable and cut short") {
  Harness h;
  const auto now = h.clock.now();
  nlohmann::json many = nlohmann::json::array();
  many.push_back(std::string("a\r\nb") + std::string(300, 'x'));
  for (int i = 0; i < 5; ++i) {
    many.push_back("aud" + std::to_string(i));
  }
  h.source.script.push_back(FetchResult::success(make_jwt(
      {{"iat", unix_seconds(now)}, {"exp", unix_seconds(now + 1h)}, {"aud", many}})));
  CHECK_FALSE(h.refresher.step().ok);
  const std::string err = h.last_log()["error"];
  CHECK(err.find('\r') == std::string::npos);
  CHECK(err.find('\n') == std::string::npos);
  CHECK(err.find("a??b") != std::string::npos);
  CHECK(err.find(std::string(101, 'x')) == std::string::npos);
  CHECK(err.find("(and 3 more)") != std::string::npos);
}

TEST_CASE("without a configured audience every token is refused") {
  kube::FakeClock clock{TimePoint{} + std::chrono::seconds(1700000000)};
  ScriptedSource source;
  RecordingSink sink;
  LogCapture logs;
  Refresher refresher{source, sink, clock, [] { return 0.0; }, logs.logger, RefresherOptions{}};
  source.script.push_back(FetchResult::success(make_jwt(clock.now(), clock.now() + 1h, "")));
  source.script.push_back(FetchResult::success(make_jwt(clock.now(), clock.now() + 1h)));
  CHECK(refresher.step().error->kind == ErrorKind::wrong_audience);
  CHECK(refresher.step().error->kind == ErrorKind::wrong_audience);
  CHECK(sink.written.empty());
  CHECK(refresher.stats().rejected_audience == 2);
}

TEST_CASE("run_once: tokens for another audience until the deadline: nothing written") {
  Harness h;
  h.source.fallback = [&] {
    return FetchResult::success(make_jwt(h.clock.now(), h.clock.now() + 1h, "someone-else"));
  };
  auto r = h.refresher.run_once(60s, [&](kube::Clock::duration d) {
    h.clock.advance(d);
    return true;
  });
  CHECK(r == OnceResult::timed_out);
  CHECK(h.source.calls == 5);  // 0, 5, 15, 35, 60: the config pace
  CHECK(h.sink.written.empty());
  CHECK(h.refresher.stats().rejected_audience == 5);
  CHECK(h.last_log()["kind"] == "wrong_audience");
}

TEST_CASE("write failures back off at the transient pace and keep the old token") {
  Harness h;
  h.source.fallback = [&] { return h.ok(); };
  h.step_and_wait();
  h.sink.fail_next = 2;
  StepResult a = h.step_and_wait();
  StepResult b = h.step_and_wait();
  CHECK(a.error->kind == ErrorKind::write);
  CHECK(a.delay == 1s);
  CHECK(b.delay == 2s);
  CHECK(h.logs.contains("disk on fire"));
  CHECK(h.step_and_wait().ok);
  CHECK(h.sink.written.size() == 2);
}

TEST_CASE("when the kept token expires, failures are logged as errors and retries continue") {
  Harness h;
  const auto t0 = h.clock.now();
  h.source.script.push_back(h.ok());
  h.step_and_wait();
  h.source.fallback = [] { return network_failure(); };
  // Fail until well past expiry.
  int attempts = 0;
  while (h.clock.now() < t0 + 1h + 5min) {
    CHECK_FALSE(h.step_and_wait().ok);
    ++attempts;
  }
  CHECK(attempts > 50);  // 24+ minutes at <= 30 s apart
  auto log = h.last_log();
  CHECK(log["level"] == "error");
  CHECK(log["msg"] == "token refresh failed and the token file has expired; retrying");
  CHECK(log["retry_in_s"] == doctest::Approx(30));
  // Recovers.
  h.source.fallback = [&] { return h.ok(); };
  CHECK(h.step_and_wait().ok);
}

TEST_CASE("without any token, transient failures become errors from the third attempt") {
  Harness h;
  h.source.fallback = [] { return network_failure(); };
  h.step_and_wait();
  h.step_and_wait();
  CHECK(h.last_log()["level"] == "warn");
  h.step_and_wait();
  CHECK(h.last_log()["level"] == "error");
}

TEST_CASE("logs never contain the token") {
  Harness h;
  std::vector<std::string> tokens;
  h.source.fallback = [&] {
    tokens.push_back(h.fresh());
    return FetchResult::success(tokens.back());
  };
  h.source.script = {network_failure(), http_failure(404, "hint"), http_failure(503)};
  h.sink.fail_next = 0;
  for (int i = 0; i < 10; ++i) {
    h.step_and_wait();
  }
  h.sink.fail_next = 1;
  h.step_and_wait();
  REQUIRE(tokens.size() >= 7);
  REQUIRE(h.logs.lines.size() >= 10);
  for (const auto& t : tokens) {
    CHECK_FALSE(h.logs.contains(t));
    // Not even a segment of it (the payload would reveal the claims).
    CHECK_FALSE(h.logs.contains(t.substr(t.find('.') + 1, 20)));
    CHECK_FALSE(h.logs.contains(t.substr(t.rfind('.') + 1)));
  }
  for (const auto& j : h.logs.parsed()) {
    CHECK(j.contains("ts"));
    CHECK(j.contains("level"));
    CHECK(j.contains("msg"));
  }
}

TEST_CASE("run() refreshes on schedule until the wait says stop") {
  Harness h;
  const auto t0 = h.clock.now();
  h.source.fallback = [&] { return h.ok(); };
  int waits = 0;
  std::vector<kube::Clock::duration> slept;
  h.refresher.run([&](kube::Clock::duration d) {
    ++waits;
    if (d > kube::Clock::duration::zero()) {
      slept.push_back(d);
    }
    h.clock.advance(d);
    return h.clock.now() < t0 + 5h;
  });
  // One fetch at start, then every 36 min (r = 0) for 5 h.
  CHECK(h.source.calls == 1 + 300 / 36);
  CHECK(h.sink.written.size() == h.source.calls);
  // Sleeps are sliced to at most 30 s so a clock jump is noticed.
  for (auto d : slept) {
    CHECK(d <= 30s);
  }
}

TEST_CASE("run() returns at once when stopped before the first fetch") {
  Harness h;
  h.refresher.run([](kube::Clock::duration) { return false; });
  CHECK(h.source.calls == 0);
}

TEST_CASE("run() never stops on errors") {
  Harness h;
  const auto t0 = h.clock.now();
  h.source.fallback = [] { return http_failure(404); };
  h.refresher.run([&](kube::Clock::duration d) {
    h.clock.advance(d);
    return h.clock.now() < t0 + 1h;
  });
  // Attempts at 0, 5, 15, 35, 75, 155 s, then every 120 s up to 3515 s.
  CHECK(h.source.calls == 34);
  CHECK(h.sink.written.empty());
}

TEST_CASE("run_once: success on the first try, no refresh announced") {
  Harness h;
  h.source.script.push_back(h.ok());
  int waits = 0;
  auto r = h.refresher.run_once(60s, [&](kube::Clock::duration) {
    ++waits;
    return true;
  });
  CHECK(r == OnceResult::written);
  CHECK(waits == 0);
  CHECK_FALSE(h.last_log().contains("next_refresh_in_s"));
}

TEST_CASE("run_once: retries transient errors and succeeds") {
  Harness h;
  h.source.script = {network_failure(), http_failure(503), http_failure(429)};
  h.source.fallback = [&] { return h.ok(); };
  const auto t0 = h.clock.now();
  auto r = h.refresher.run_once(60s, [&](kube::Clock::duration d) {
    h.clock.advance(d);
    return true;
  });
  CHECK(r == OnceResult::written);
  CHECK(h.source.calls == 4);
  CHECK(h.clock.now() - t0 == 7s);  // 1 + 2 + 4
}

TEST_CASE("run_once: gives up at the deadline after a last attempt") {
  Harness h;
  h.source.fallback = [] { return http_failure(404); };
  const auto t0 = h.clock.now();
  auto r = h.refresher.run_once(60s, [&](kube::Clock::duration d) {
    h.clock.advance(d);
    return true;
  });
  CHECK(r == OnceResult::timed_out);
  CHECK(h.clock.now() - t0 == 60s);
  // Attempts at 0, 5, 15, 35 and the last one at the deadline (60).
  CHECK(h.source.calls == 5);
  CHECK(h.last_log()["final"] == true);
  CHECK(h.last_log()["msg"] == "token fetch failed");
  CHECK_FALSE(h.last_log().contains("retry_in_s"));
}

TEST_CASE("run_once: a stop request ends the wait") {
  Harness h;
  h.source.fallback = [] { return network_failure(); };
  int waits = 0;
  auto r = h.refresher.run_once(60s, [&](kube::Clock::duration d) {
    h.clock.advance(d);
    return ++waits < 3;
  });
  CHECK(r == OnceResult::stopped);
  CHECK(h.sink.written.empty());
}
