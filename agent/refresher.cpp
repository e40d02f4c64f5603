#include "agent/refresher.hpp"

#include <algorithm>

#include "kube/duration.hpp"

namespace gtoken::agent {

namespace {

using Dur = kube::Clock::duration;

bool slow_kind(ErrorKind k) {
  return k == ErrorKind::config || k == ErrorKind::invalid_token ||
         k == ErrorKind::wrong_audience;
}

// An audience value for a log line: printable ASCII, at most 100 characters.
// (An aud is not a secret, but it came from the network.)
std::string printable(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (out.size() >= 100) {
      out += "...";
      break;
    }
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

std::string describe_audiences(const std::vector<std::string>& aud) {
  if (aud.empty()) {
    return "no aud claim";
  }
  std::string out = "aud ";
  for (size_t i = 0; i < aud.size(); ++i) {
    if (i == 3) {
      out += " (and " + std::to_string(aud.size() - 3) + " more)";
      break;
    }
    out += (i ? ", \"" : "\"") + printable(aud[i]) + "\"";
  }
  return out;
}

// Failures at the fast pace are expected now and then (a metadata server
// restart): they become errors only when there is no valid token to fall
// back on and they keep coming.
constexpr int kTransientErrorAfter = 3;

}  // namespace

Refresher::Refresher(TokenSource& source, TokenSink& sink, kube::Clock& clock, kube::Random random,
                     kube::Logger& log, RefresherOptions opts)
    : source_(source),
      sink_(sink),
      clock_(clock),
      random_(std::move(random)),
      log_(log),
      opts_(opts) {}

StepResult Refresher::step() {
  FetchResult res = source_.fetch();
  const auto now = clock_.now();
  if (!res.ok()) {
    return fail(now, std::move(*res.error));
  }

  std::string why;
  auto times = parse_jwt_times(res.token, &why);
  if (!times) {
    return fail(now, {ErrorKind::invalid_token,
                      200,
                      source_.describe() + " returned something that is not a JWT with exp: " + why,
                      {}});
  }
  if (times->exp <= now) {
    return fail(now, {ErrorKind::invalid_token, 200,
                      source_.describe() + " returned a token that expired at " +
                          format_rfc3339(times->exp) + " by the local clock",
                      "check the node's clock"});
  }
  if (!has_audience(*times, opts_.audience)) {
    // A token minted for someone else (a metadata server or proxy that
    // ignored ?audience=, a misrouted GCE_METADATA_HOST): writing it would
    // hand the app a credential for another relying party. Keep the file.
    ++stats_.rejected_audience;
    return fail(now, {ErrorKind::wrong_audience, 200,
                      source_.describe() + " returned a token with " +
                          describe_audiences(times->aud) + ", expected \"" +
                          printable(opts_.audience) + "\"; not written",
                      "the token source ignored the requested audience: check --audience and "
                      "that GCE_METADATA_HOST is the metadata server"});
  }
  try {
    sink_.write(res.token, *times);
  } catch (const std::exception& ex) {
    return fail(now, {ErrorKind::write, 0, ex.what(), {}});
  }

  const int recovered_after = failures_;
  failures_ = 0;
  ++stats_.written;
  current_ = times;
  StepResult out;
  out.ok = true;
  out.next = next_refresh(now, times->iat, times->exp, random_, opts_.policy);
  out.delay = out.next - now;

  nlohmann::json fields = {{"sink", sink_.describe()},
                           {"source", source_.describe()},
                           {"exp", format_rfc3339(times->exp)},
                           {"valid_for_s", kube::to_seconds(times->exp - now)}};
  if (!once_) {
    fields["next_refresh_in_s"] = kube::to_seconds(out.delay);
  }
  if (recovered_after > 0) {
    fields["recovered_after_failures"] = recovered_after;
  }
  log_.info("token written", fields);
  return out;
}

StepResult Refresher::fail(kube::Clock::time_point now, FetchError err) {
  ++failures_;
  ++stats_.failed;
  const kube::BackoffPolicy& backoff =
      slow_kind(err.kind) ? opts_.config_backoff : opts_.transient_backoff;
  const double r = random_ ? random_() : 0.0;
  StepResult out;
  out.ok = false;
  out.delay = kube::backoff_delay(backoff, static_cast<unsigned>(failures_ - 1), r);
  const bool have_valid = current_ && current_->exp > now;
  if (have_valid) {
    // Never sleep past half of the kept token's remaining validity: retries
    // get denser towards its exp, so a server that comes back shortly
    // before then is still used in time.
    const Dur half = (current_->exp - now) / 2;
    out.delay = std::min(out.delay, std::max<Dur>(half, opts_.min_retry_delay));
  }
  out.next = now + out.delay;

  kube::LogLevel level = kube::LogLevel::warn;
  if (slow_kind(err.kind) || (!have_valid && failures_ >= kTransientErrorAfter)) {
    level = kube::LogLevel::error;
  }
  const bool final_attempt = once_deadline_ && now >= *once_deadline_;
  const char* msg = final_attempt ? "token fetch failed"
                    : have_valid  ? "token refresh failed; keeping the current token"
                    : current_    ? "token refresh failed and the token file has expired; retrying"
                                  : "token fetch failed; no token written yet; retrying";
  nlohmann::json fields = {{"source", source_.describe()},
                           {"kind", kind_name(err.kind)},
                           {"error", err.message},
                           {"attempt", failures_}};
  if (final_attempt) {
    fields["final"] = true;  // run_once gives up after this attempt
  } else {
    fields["retry_in_s"] = kube::to_seconds(out.delay);
  }
  if (err.http_status) {
    fields["http_status"] = err.http_status;
  }
  if (!err.hint.empty()) {
    fields["hint"] = err.hint;
  }
  if (current_) {
    fields["current_exp"] = format_rfc3339(current_->exp);
  }
  if (stats_.rejected_audience > 0) {
    fields["rejected_audience_total"] = stats_.rejected_audience;
  }
  log_.log(level, msg, fields);

  out.error = std::move(err);
  return out;
}

void Refresher::run(const WaitFn& wait) {
  auto next = clock_.now();
  for (;;) {
    const auto now = clock_.now();
    if (now < next) {
      if (!wait(std::min<Dur>(next - now, opts_.max_wait_slice))) {
        return;
      }
      continue;
    }
    if (!wait(Dur::zero())) {
      return;
    }
    next = step().next;
  }
}

OnceResult Refresher::run_once(std::chrono::milliseconds timeout, const WaitFn& wait) {
  once_ = true;
  const auto deadline = clock_.now() + timeout;
  once_deadline_ = deadline;
  for (;;) {
    StepResult r = step();
    if (r.ok) {
      return OnceResult::written;
    }
    if (clock_.now() >= deadline) {
      return OnceResult::timed_out;
    }
    const auto until = std::min(r.next, deadline);
    for (auto now = clock_.now(); now < until; now = clock_.now()) {
      if (!wait(std::min<Dur>(until - now, opts_.max_wait_slice))) {
        return OnceResult::stopped;
      }
    }
  }
}

}  // namespace gtoken::agent
