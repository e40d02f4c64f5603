#pragma once
// JSON lines on stderr: {"ts","level","msg",...fields}. One object per line,
// written with a single write(2), so lines never interleave with another
// writer of stderr (the agent has one thread; the mutex is for tests).
//
// Never pass a token (or anything containing one) as a message or field: log
// its exp instead. Callers in this folder follow that rule and the unit tests
// check it.

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace gtoken::agent {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

std::optional<Level> parse_level(std::string_view s);
const char* level_name(Level l);

class Logger {
 public:
  using Sink = std::function<void(std::string_view line)>;  // line ends with '\n'

  explicit Logger(Level min = Level::info, Sink sink = stderr_sink());

  static Sink stderr_sink();

  bool enabled(Level l) const { return l >= min_; }
  void set_level(Level l) { min_ = l; }
  // `fields` must be a JSON object (or null for none).
  void log(Level l, std::string_view msg, const nlohmann::json& fields = nullptr);
  void debug(std::string_view msg, const nlohmann::json& f = nullptr) { log(Level::debug, msg, f); }
  void info(std::string_view msg, const nlohmann::json& f = nullptr) { log(Level::info, msg, f); }
  void warn(std::string_view msg, const nlohmann::json& f = nullptr) { log(Level::warn, msg, f); }
  void error(std::string_view msg, const nlohmann::json& f = nullptr) { log(Level::error, msg, f); }

 private:
  Level min_;
  Sink sink_;
  std::mutex mu_;
};

// Renders one log line (exposed for tests).
std::string format_log_line(std::string_view ts, Level l, std::string_view msg,
                            const nlohmann::json& fields);

}  // namespace gtoken::agent
