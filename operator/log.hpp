#pragma once
// Process-wide JSON logging for gtoken-operator: one object per line on
// stderr. Callers pass structured fields; secrets never go into them.

#include <nlohmann/json.hpp>
#include <string>

namespace gtoken::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_level(Level l);
bool parse_level(const std::string& s, Level& out);
void write(Level l, const std::string& msg, const nlohmann::json& fields = nlohmann::json::object());
inline void debug(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Debug, m, f);
}
inline void info(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Info, m, f);
}
inline void warn(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Warn, m, f);
}
inline void error(const std::string& m, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Error, m, f);
}

}  // namespace gtoken::log
