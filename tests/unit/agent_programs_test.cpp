// The built programs (agent/gtoken, agent/gtoken-https) as processes against
// a loopback metadata server: one thread, SIGTERM asleep and mid-request,
// and gtoken handing an https:// --iam-endpoint (or probe --sts's
// --sts-endpoint) to gtoken-https.
// tests/e2e/test_agent.py runs the same binary against the Google stand-in.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/testing/fakes.hpp"
#include "kube_loopback.hpp"

using namespace gtoken::agent;
using namespace std::chrono_literals;

namespace {

const std::string kBin = std::string(GTOKEN_BINARY_DIR) + "/agent/gtoken";
const std::string kAud = "gtoken/sts/assume-role-with-web-identity";

std::string temp_dir() {
  char tmpl[] = "/tmp/gtoken-programs-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Proc {
  pid_t pid = -1;
  std::string log;  // stderr file

  static Proc start(const std::string& bin, const std::vector<std::string>& args,
                    const std::string& metadata_host, const std::string& log,
                    const std::string& out = "/dev/null") {
    Proc p;
    p.log = log;
    p.pid = ::fork();
    REQUIRE(p.pid >= 0);
    if (p.pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, STDERR_FILENO);
      int null = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(null, STDOUT_FILENO);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(bin.c_str()));
      for (const auto& a : args) {
        argv.push_back(const_cast<char*>(a.c_str()));
      }
      argv.push_back(nullptr);
      std::string env_host = "GCE_METADATA_HOST=" + metadata_host;
      char* envp[] = {const_cast<char*>(env_host.c_str()), const_cast<char*>("PATH=/usr/bin:/bin"),
                      nullptr};
      ::execve(bin.c_str(), argv.data(), envp);
      _exit(127);
    }
    return p;
  }

  int wait() {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  std::string status_field(const std::string& key) const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(f, line);) {
      if (line.rfind(key + ":", 0) == 0) {
        return line.substr(line.find_first_not_of(" \t", key.size() + 1));
      }
    }
    return "";
  }

  ~Proc() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    std::string n = e->d_name;
    if (n != "." && n != "..") {
      out.push_back(n);
    }
  }
  if (d) {
    ::closedir(d);
  }
  return out;
}

std::string jwt_answer() {
  const auto now = std::chrono::system_clock::now();
  const std::string jwt = testing::make_jwt(now, now + 1h, kAud);
  return "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " +
         std::to_string(jwt.size()) + "\r\n\r\n" + jwt;
}

}  // namespace

TEST_CASE("gtoken --refresh runs in one thread and SIGTERM ends its sleep at once") {
  REQUIRE(::access(kBin.c_str(), X_OK) == 0);
  loopback::Server server([](const loopback::Request&, size_t) {
    loopback::Answer a;
    a.bytes = jwt_answer();
    return a;
  });
  const std::string dir = temp_dir();
  const std::string file = dir + "/gtoken";
  Proc p = Proc::start(kBin, {"--refresh", "--file=" + file, "--audience=" + kAud},
                       "127.0.0.1:" + std::to_string(server.port()), dir + "/log");
  REQUIRE(eventually([&] { return ::access(file.c_str(), F_OK) == 0; }));
  std::this_thread::sleep_for(100ms);
  CHECK(p.status_field("Threads") == "1");
  const auto req = server.requests().at(0);
  CHECK(req.header("Metadata-Flavor") == "Google");
  CHECK(req.target.find("audience=gtoken%2Fsts%2Fassume-role-with-web-identity") !=
        std::string::npos);
  ::kill(p.pid, SIGTERM);
  CHECK(p.wait() == 0);
  const std::string log = slurp(dir + "/log");
  CHECK(log.find("\"msg\":\"token written\"") != std::string::npos);
  CHECK(log.find("\"msg\":\"signal received; exiting\",\"signal\":\"SIGTERM\"") !=
        std::string::npos);
  CHECK(log.find(slurp(file).substr(0, 40)) == std::string::npos);  // no token in the log
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("SIGTERM mid-request exits 0 at once and leaves the token file as it was") {
  std::atomic<bool> asked{false};
  loopback::Server server([&](const loopback::Request&, size_t) {
    asked = true;
    std::this_thread::sleep_for(2s);  // hangs
    loopback::Answer a;
    a.drop = true;
    return a;
  });
  const std::string dir = temp_dir();
  const std::string file = dir + "/gtoken";
  {
    std::ofstream(file) << "old";
  }
  Proc p = Proc::start(kBin, {"--refresh", "--file=" + file, "--audience=" + kAud},
                       "127.0.0.1:" + std::to_string(server.port()), dir + "/log");
  REQUIRE(eventually([&] { return asked.load(); }));
  std::this_thread::sleep_for(50ms);
  CHECK(p.status_field("Threads") == "1");
  ::kill(p.pid, SIGTERM);
  CHECK(p.wait() == 0);
  const std::string log = slurp(dir + "/log");
  CHECK(log.find("\"msg\":\"exiting with a request in flight\",\"signal\":\"SIGTERM\"") !=
        std::string::npos);
  CHECK(slurp(file) == "old");
  CHECK(entries(dir).size() == 2);  // gtoken and log: no temp file
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("an https:// --iam-endpoint is handed to gtoken-https; without it gtoken says so") {
  const std::string dir = temp_dir();
  const std::vector<std::string> args = {
      "--once", "--once-timeout=0s", "--file=" + dir + "/gtoken", "--audience=" + kAud,
      "--gcp-service-account=app@p.iam.gserviceaccount.com",
      "--iam-endpoint=https://127.0.0.1:1"};
  {
    Proc p = Proc::start(kBin, args, "127.0.0.1:1", dir + "/log");
    CHECK(p.wait() == 1);  // nothing listens on port 1: --once gives up
    const std::string log = slurp(dir + "/log");
    CHECK(log.find("\"iam_tls\":true") != std::string::npos);  // gtoken-https's start line
    CHECK(log.find("no token written before --once-timeout") != std::string::npos);
  }
  {
    // gtoken alone in a directory: no gtoken-https next to it.
    const std::string lone = dir + "/gtoken-alone";
    REQUIRE(std::system(("cp " + kBin + " " + lone).c_str()) == 0);
    Proc p = Proc::start(lone, args, "127.0.0.1:1", dir + "/log2");
    CHECK(p.wait() == 2);
    const std::string log = slurp(dir + "/log2");
    CHECK(log.find("\"msg\":\"cannot start\"") != std::string::npos);
    CHECK(log.find("needs gtoken-https next to gtoken") != std::string::npos);
  }
  std::system(("rm -rf " + dir).c_str());
}

TEST_CASE("probe --sts with an https:// endpoint is handed to gtoken-https; without it, said") {
  const std::string dir = temp_dir();
  { std::ofstream(dir + "/token") << "a.b.c"; }
  const std::vector<std::string> args = {"probe", "--sts", "--file=" + dir + "/token",
                                         "--role-arn=arn:aws:iam::123456789012:role/r",
                                         "--sts-endpoint=https://127.0.0.1:1"};
  {
    Proc p = Proc::start(kBin, args, "127.0.0.1:1", dir + "/log", dir + "/out");
    CHECK(p.wait() == 1);  // nothing listens on port 1
    const auto v = nlohmann::json::parse(slurp(dir + "/out"));
    CHECK(v["ok"] == false);
    // gtoken-https's own attempt, not gtoken's refusal.
    CHECK(v["error"].get<std::string>().rfind("STS at https://127.0.0.1:1: ", 0) == 0);
    CHECK(v["error"].get<std::string>().find("needs") == std::string::npos);
  }
  {
    const std::string lone = dir + "/gtoken-alone";
    REQUIRE(std::system(("cp " + kBin + " " + lone).c_str()) == 0);
    Proc p = Proc::start(lone, args, "127.0.0.1:1", dir + "/log2", dir + "/out2");
    CHECK(p.wait() == 1);
    const auto v = nlohmann::json::parse(slurp(dir + "/out2"));
    CHECK(v["ok"] == false);
    CHECK(v["error"].get<std::string>().find("needs gtoken-https next to gtoken") !=
          std::string::npos);
  }
  std::system(("rm -rf " + dir).c_str());
}
