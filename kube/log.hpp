#pragma once
// The one logger of every gtoken program (operator, webhook, agent, and the
// kube library's watchers, leader election and servers): JSON lines
// {"ts","level","msg",...fields}, ts in RFC 3339 UTC with milliseconds.
// One object per line, handed to the sink whole (stderr: one write(2)), so
// lines of several threads never interleave.
//
// Never pass a token, a key or anything containing one as a message or a
// field: log its exp or a fingerprint instead.
//
// Pure apart from stderr_sink (one write(2)): part of gtoken_base, so the
// agent links it without Boost, OpenSSL or libm.

#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace kube {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

// "debug", "info", "warn" (or "warning"), "error"; nullopt otherwise.
std::optional<LogLevel> parse_log_level(std::string_view s);
const char* log_level_name(LogLevel l);

class Logger {
 public:
  using Sink = std::function<void(std::string_view line)>;  // line ends with '\n'

  explicit Logger(LogLevel min = LogLevel::info, Sink sink = stderr_sink());
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  static Sink stderr_sink();

  bool enabled(LogLevel l) const { return l >= min_.load(std::memory_order_relaxed); }
  void set_level(LogLevel l) { min_.store(l, std::memory_order_relaxed); }
  // `fields` must be a JSON object (or null for none); keys named ts, level
  // or msg are dropped.
  void log(LogLevel l, std::string_view msg, const nlohmann::json& fields = nullptr);
  // The same line with fields already written as text (LogFields::text()).
  void log_text(LogLevel l, std::string_view msg, std::string_view fields_text);
  void debug(std::string_view msg, const nlohmann::json& f = nullptr) {
    log(LogLevel::debug, msg, f);
  }
  void info(std::string_view msg, const nlohmann::json& f = nullptr) {
    log(LogLevel::info, msg, f);
  }
  void warn(std::string_view msg, const nlohmann::json& f = nullptr) {
    log(LogLevel::warn, msg, f);
  }
  void error(std::string_view msg, const nlohmann::json& f = nullptr) {
    log(LogLevel::error, msg, f);
  }

 private:
  void write(const std::string& line);  // one line, whole, to the sink

  std::atomic<LogLevel> min_;
  Sink sink_;
  std::mutex mu_;
};

// The process's logger (stderr, info until set_level): gtoken-operator's
// code logs here. Code that is tested with its output injects a Logger&.
Logger& process_logger();

// ts, level and msg: every line's own, so a field of that name is dropped.
bool is_reserved_log_key(std::string_view key);

// Renders one log line (exposed for tests).
std::string format_log_line(std::string_view ts, LogLevel l, std::string_view msg,
                            const nlohmann::json& fields);
// The same with the fields as text: ,"key":value for each.
std::string format_log_line_text(std::string_view ts, LogLevel l, std::string_view msg,
                                 std::string_view fields_text);

}  // namespace kube
