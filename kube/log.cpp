#include "kube/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>

#include "kube/json_text.hpp"

namespace kube {

namespace {

std::string dump(const nlohmann::json& j) {
  // Error bodies from servers may hold invalid UTF-8: never throw on them.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string now_rfc3339_millis() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::time_t tt = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms.count()));
  return buf;
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view s) {
  if (s == "debug") {
    return LogLevel::debug;
  }
  if (s == "info") {
    return LogLevel::info;
  }
  if (s == "warn" || s == "warning") {
    return LogLevel::warn;
  }
  if (s == "error") {
    return LogLevel::error;
  }
  return std::nullopt;
}

const char* log_level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "info";
}

namespace {

// {"ts":…,"level":…,"msg":… — ts, level and msg first (nlohmann::json sorts
// keys). append() rather than operator+ chains: GCC 12 reports a false
// -Wrestrict on the latter at -O2 (GCC bug 105329).
std::string line_start(std::string_view ts, LogLevel l, std::string_view msg,
                       std::size_t extra) {
  std::string line;
  line.reserve(80 + ts.size() + msg.size() + extra);
  line.append("{\"ts\":");
  append_json_string(line, ts);
  line.append(",\"level\":\"").append(log_level_name(l)).append("\",\"msg\":");
  append_json_string(line, msg);
  return line;
}

}  // namespace

bool is_reserved_log_key(std::string_view key) {
  return key == "ts" || key == "level" || key == "msg";
}

std::string format_log_line(std::string_view ts, LogLevel l, std::string_view msg,
                            const nlohmann::json& fields) {
  std::string line = line_start(ts, l, msg, 64);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      if (is_reserved_log_key(it.key())) {
        continue;
      }
      line.append(",");
      append_json_string(line, it.key());
      line.append(":").append(dump(it.value()));
    }
  }
  line += "}\n";
  return line;
}

std::string format_log_line_text(std::string_view ts, LogLevel l, std::string_view msg,
                                 std::string_view fields_text) {
  std::string line = line_start(ts, l, msg, fields_text.size());
  line.append(fields_text);
  line += "}\n";
  return line;
}

Logger::Logger(LogLevel min, Sink sink) : min_(min), sink_(std::move(sink)) {}

Logger::Sink Logger::stderr_sink() {
  return [](std::string_view line) {
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      ssize_t n = ::write(STDERR_FILENO, p, left);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return;  // nowhere left to report a logging failure
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  };
}

void Logger::log(LogLevel l, std::string_view msg, const nlohmann::json& fields) {
  if (enabled(l)) write(format_log_line(now_rfc3339_millis(), l, msg, fields));
}

void Logger::log_text(LogLevel l, std::string_view msg, std::string_view fields_text) {
  if (enabled(l)) write(format_log_line_text(now_rfc3339_millis(), l, msg, fields_text));
}

void Logger::write(const std::string& line) {
  std::lock_guard lock(mu_);
  if (sink_) {
    sink_(line);
  }
}

Logger& process_logger() {
  static Logger logger;
  return logger;
}

}  // namespace kube
