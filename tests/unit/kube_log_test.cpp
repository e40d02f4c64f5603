// kube/log: the one logger (operator, webhook, agent, kube library).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "kube/log.hpp"
#include "kube/log_fields.hpp"

using kube::Logger;
using kube::LogLevel;
using json = nlohmann::json;

namespace {

struct Capture {
  std::vector<std::string> lines;
  Logger::Sink sink() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
};

}  // namespace

TEST_CASE("log lines: one JSON object, ts/level/msg first, fields after, bad UTF-8 survives") {
  std::string line =
      kube::format_log_line("2024-01-01T00:00:00.000Z", LogLevel::warn, "hello \"x\"",
                            {{"b", 1}, {"a", "\xff"}, {"msg", "ignored"}});
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  CHECK(line.rfind(
            "{\"ts\":\"2024-01-01T00:00:00.000Z\",\"level\":\"warn\",\"msg\":\"hello \\\"x\\\"\"",
            0) == 0);
  auto j = json::parse(line);
  CHECK(j["b"] == 1);
  CHECK(j["msg"] == "hello \"x\"");

  std::vector<std::string> lines;
  Logger log(LogLevel::warn, [&](std::string_view l) { lines.emplace_back(l); });
  log.info("dropped");
  log.warn("kept");
  log.error("kept too", {{"k", "v"}});
  REQUIRE(lines.size() == 2);
  CHECK(json::parse(lines[1])["k"] == "v");
  CHECK(kube::parse_log_level("warning") == LogLevel::warn);
  CHECK_FALSE(kube::parse_log_level("trace"));
}

TEST_CASE("a field cannot overwrite ts, level or msg") {
  const std::string line =
      kube::format_log_line("2024-01-01T00:00:00.000Z", LogLevel::info, "real",
                            {{"ts", "forged"}, {"level", "error"}, {"msg", "forged"}, {"z", true}});
  const auto j = json::parse(line);
  CHECK(j["ts"] == "2024-01-01T00:00:00.000Z");
  CHECK(j["level"] == "info");
  CHECK(j["msg"] == "real");
  CHECK(j["z"] == true);
  CHECK(j.size() == 4);
}

TEST_CASE("fields written as text give the line the same fields as an object gives") {
  kube::LogFields fields;
  fields.add_bool("dryRun", false)
      .add_number("latencyMs", 0.125)
      .add("namespace", "apps")
      .add_int("patchOperations", 4)
      .add("pod", "web-\xff*")
      .add("msg", "forged")
      .add_number("nan", std::nan(""))
      .add("uid", "u\"1");
  const json object = {{"dryRun", false}, {"latencyMs", 0.125},    {"namespace", "apps"},
                       {"patchOperations", 4}, {"pod", "web-\xff*"}, {"nan", nullptr},
                       {"uid", "u\"1"}};
  const std::string text =
      kube::format_log_line_text("2024-01-01T00:00:00.000Z", LogLevel::info, "admission",
                                 fields.text());
  CHECK(text.back() == '\n');
  CHECK(json::parse(text) ==
        json::parse(kube::format_log_line("2024-01-01T00:00:00.000Z", LogLevel::info,
                                          "admission", object)));
  CHECK(json::parse(text)["msg"] == "admission");
  CHECK(json::parse(text)["pod"] == "web-\xef\xbf\xbd*");  // invalid UTF-8 replaced

  std::vector<std::string> lines;
  Logger log(LogLevel::warn, [&](std::string_view l) { lines.emplace_back(l); });
  log.log_text(LogLevel::info, "dropped", fields.text());
  log.log_text(LogLevel::error, "kept", fields.text());
  REQUIRE(lines.size() == 1);
  CHECK(json::parse(lines[0])["patchOperations"] == 4);
}

TEST_CASE("fields that are not an object, or null, add nothing") {
  for (const json& fields : {json(nullptr), json::array({1, 2}), json("text"), json(3)}) {
    const auto j = json::parse(kube::format_log_line("t", LogLevel::debug, "m", fields));
    CHECK(j.size() == 3);
  }
}

TEST_CASE("levels: names round-trip, and only known names parse") {
  for (LogLevel l : {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error}) {
    CHECK(kube::parse_log_level(kube::log_level_name(l)) == l);
  }
  CHECK_FALSE(kube::parse_log_level(""));
  CHECK_FALSE(kube::parse_log_level("INFO"));
  CHECK_FALSE(kube::parse_log_level("fatal"));
}

TEST_CASE("set_level moves the threshold; enabled says what would be written") {
  Capture c;
  Logger log(LogLevel::error, c.sink());
  CHECK_FALSE(log.enabled(LogLevel::warn));
  log.warn("dropped");
  CHECK(c.lines.empty());
  log.set_level(LogLevel::debug);
  CHECK(log.enabled(LogLevel::debug));
  log.debug("kept", {{"n", 1}});
  REQUIRE(c.lines.size() == 1);
  const auto j = json::parse(c.lines[0]);
  CHECK(j["level"] == "debug");
  CHECK(j["n"] == 1);
  // RFC 3339 UTC with milliseconds: 2024-01-01T00:00:00.000Z
  const std::string ts = j["ts"];
  CHECK(ts.size() == 24);
  CHECK(ts[10] == 'T');
  CHECK(ts[19] == '.');
  CHECK(ts.back() == 'Z');
}

TEST_CASE("a logger without a sink drops everything") {
  Logger log(LogLevel::debug, Logger::Sink{});
  log.error("nowhere");  // must not throw
  CHECK(log.enabled(LogLevel::error));
}

TEST_CASE("lines from many threads never interleave") {
  Capture c;
  Logger log(LogLevel::info, c.sink());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 200; ++i) log.info("line", {{"thread", t}, {"i", i}});
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(c.lines.size() == 800);
  for (const auto& l : c.lines) {
    REQUIRE(l.find('\n') == l.size() - 1);
    CHECK(json::parse(l)["msg"] == "line");
  }
}

TEST_CASE("stderr_sink writes the whole line to stderr") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const int saved = ::dup(STDERR_FILENO);
  REQUIRE(saved >= 0);
  ::dup2(fds[1], STDERR_FILENO);
  {
    Logger log(LogLevel::info);
    log.info("to stderr", {{"k", std::string(1000, 'x')}});
  }
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  REQUIRE(!out.empty());
  CHECK(out.back() == '\n');
  CHECK(json::parse(out)["k"] == std::string(1000, 'x'));
}

TEST_CASE("the process logger is one object, at info until told otherwise") {
  Logger& a = kube::process_logger();
  CHECK(&a == &kube::process_logger());
  CHECK(a.enabled(LogLevel::info));
  CHECK_FALSE(a.enabled(LogLevel::debug));
}
