#pragma once
// Fakes for the agent's unit tests (header only; nothing in the gtoken
// binary includes this).

#include <chrono>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/jwt.hpp"
#include "agent/token_source.hpp"
#include "kube/log.hpp"

namespace gtoken::agent::testing {

inline long long unix_seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// An unsigned-but-well-formed JWT ("sig" as signature) with the given claims.
inline std::string make_jwt(const nlohmann::json& claims) {
  return base64url_encode(R"({"alg":"RS256","typ":"JWT"})") + "." +
         base64url_encode(claims.dump()) + "." + base64url_encode("not-a-real-signature");
}

inline std::string make_jwt(TimePoint iat, TimePoint exp,
                            const std::string& aud = "sts.amazonaws.com") {
  return make_jwt({{"iss", "https://accounts.google.com"},
                   {"aud", aud},
                   {"sub", "123456789"},
                   {"iat", unix_seconds(iat)},
                   {"exp", unix_seconds(exp)}});
}

// Answers fetch() from a script; when the script runs out, repeats `fallback`.
class ScriptedSource final : public TokenSource {
 public:
  std::deque<FetchResult> script;
  std::function<FetchResult()> fallback;
  int calls = 0;

  FetchResult fetch() override {
    ++calls;
    if (!script.empty()) {
      FetchResult r = script.front();
      script.pop_front();
      return r;
    }
    if (fallback) {
      return fallback();
    }
    return FetchResult::failure({ErrorKind::transient, 0, "script exhausted", {}});
  }
  std::string describe() const override { return "scripted"; }
};

inline FetchResult http_failure(int status, std::string hint = {}) {
  return FetchResult::failure(
      {classify_status(status), status, "HTTP " + std::to_string(status), std::move(hint)});
}

inline FetchResult network_failure() {
  return FetchResult::failure({ErrorKind::transient, 0, "connection refused", {}});
}

class RecordingSink final : public TokenSink {
 public:
  std::vector<std::string> written;
  int fail_next = 0;  // number of upcoming writes to fail

  void write(const std::string& token, const JwtTimes&) override {
    if (fail_next > 0) {
      --fail_next;
      throw std::runtime_error("disk on fire");
    }
    written.push_back(token);
  }
  std::string describe() const override { return "recording"; }
};

// Collects log lines, parsed.
struct LogCapture {
  std::vector<std::string> lines;
  kube::Logger logger{kube::LogLevel::debug, [this](std::string_view l) { lines.emplace_back(l); }};

  std::vector<nlohmann::json> parsed() const {
    std::vector<nlohmann::json> out;
    for (const auto& l : lines) {
      out.push_back(nlohmann::json::parse(l));
    }
    return out;
  }
  bool contains(const std::string& needle) const {
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
};

}  // namespace gtoken::agent::testing
