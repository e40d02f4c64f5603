#include "operator/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "kube/time.hpp"

namespace gtoken::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::mutex g_mu;
const char* names[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_level(Level l) { g_level = static_cast<int>(l); }

bool parse_level(const std::string& s, Level& out) {
  for (int i = 0; i < 4; ++i) {
    if (s == names[i]) {
      out = static_cast<Level>(i);
      return true;
    }
  }
  return false;
}

void write(Level l, const std::string& msg, const nlohmann::json& fields) {
  if (static_cast<int>(l) < g_level.load()) return;
  nlohmann::json line = {{"ts", kube::format_micro_time(std::chrono::system_clock::now())},
                         {"level", names[static_cast<int>(l)]},
                         {"msg", msg}};
  if (fields.is_object()) {
    for (auto& [k, v] : fields.items()) line[k] = v;
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(g_mu);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace gtoken::log
