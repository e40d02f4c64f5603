#include "kube/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>

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

std::string format_log_line(std::string_view ts, LogLevel l, std::string_view msg,
                            const nlohmann::json& fields) {
  // Built by hand so ts, level and msg come first (nlohmann::json sorts
  // keys). append() rather than operator+ chains: GCC 12 reports a false
  // -Wrestrict on the latter at -O2 (GCC bug 105329).
  std::string line;
  line.reserve(128 + msg.size());
  line.append("{\"ts\":").append(dump(std::string(ts)));
  line.append(",\"level\":\"").append(log_level_name(l));
  line.append("\",\"msg\":").append(dump(std::string(msg)));
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      if (it.key() == "ts" || it.key() == "level" || it.key() == "msg") {
        continue;
      }
      line.append(",").append(dump(it.key())).append(":").append(dump(it.value()));
    }
  }
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
  if (!enabled(l)) {
    return;
  }
  std::string line = format_log_line(now_rfc3339_millis(), l, msg, fields);
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
