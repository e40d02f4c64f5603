#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/probe.hpp"
#include "agent/testing/fakes.hpp"

using namespace gtoken::agent;
using namespace std::chrono_literals;

namespace {

constexpr TimePoint kNow = TimePoint{} + std::chrono::seconds(1700000000);

struct TempFile {
  std::string path;
  TempFile() {
    char tmpl[] = "/tmp/agent_probe_test.XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = tmpl;
  }
  ~TempFile() { std::filesystem::remove(path); }
  void put(const std::string& s) const {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << s;
  }
};

}  // namespace

TEST_CASE("probe passes for a token valid beyond min-validity") {
  TempFile f;
  f.put(testing::make_jwt(kNow - 10min, kNow + 50min));
  auto r = probe_token_file(f.path, kNow, 10s);
  CHECK(r.ok);
  CHECK(r.reason.find(format_rfc3339(kNow + 50min)) != std::string::npos);
}

TEST_CASE("probe fails on a missing file") {
  auto r = probe_token_file("/tmp/agent_probe_test.definitely-missing", kNow, 10s);
  CHECK_FALSE(r.ok);
  CHECK(r.reason.find("No such file") != std::string::npos);
}

TEST_CASE("probe fails on an empty file") {
  TempFile f;
  auto r = probe_token_file(f.path, kNow, 10s);
  CHECK_FALSE(r.ok);
  CHECK(r.reason.find("empty") != std::string::npos);
}

TEST_CASE("probe fails on something that is not a JWT, without echoing it") {
  TempFile f;
  f.put("secret-looking-garbage");
  auto r = probe_token_file(f.path, kNow, 10s);
  CHECK_FALSE(r.ok);
  CHECK(r.reason.find("not a JWT") != std::string::npos);
  CHECK(r.reason.find("secret-looking-garbage") == std::string::npos);
}

TEST_CASE("probe fails on a trailing newline: SDKs send the file as is") {
  TempFile f;
  f.put(testing::make_jwt(kNow, kNow + 1h) + "\n");
  CHECK_FALSE(probe_token_file(f.path, kNow, 10s).ok);
}

TEST_CASE("probe fails on a JWT without exp") {
  TempFile f;
  f.put(testing::make_jwt({{"iat", 1700000000}}));
  auto r = probe_token_file(f.path, kNow, 10s);
  CHECK_FALSE(r.ok);
  CHECK(r.reason.find("exp") != std::string::npos);
}

TEST_CASE("probe fails on expired or soon-expiring tokens") {
  TempFile f;
  f.put(testing::make_jwt(kNow - 2h, kNow - 1h));
  CHECK_FALSE(probe_token_file(f.path, kNow, 10s).ok);
  f.put(testing::make_jwt(kNow - 1h, kNow + 5s));
  CHECK_FALSE(probe_token_file(f.path, kNow, 10s).ok);
  CHECK(probe_token_file(f.path, kNow, 4s).ok);
  // Exactly at the boundary: not "more than" min-validity ahead.
  CHECK_FALSE(probe_token_file(f.path, kNow, 5s).ok);
  CHECK(probe_token_file(f.path, kNow, 0s).ok);
}

TEST_CASE("probe fails on an oversized file") {
  TempFile f;
  f.put(std::string(30000, 'a'));
  auto r = probe_token_file(f.path, kNow, 10s);
  CHECK_FALSE(r.ok);
  CHECK(r.reason.find("larger") != std::string::npos);
}

TEST_CASE("probe fails on a directory") {
  auto r = probe_token_file("/tmp", kNow, 10s);
  CHECK_FALSE(r.ok);
}
