#include "tests/integration/support.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <thread>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace itest {

std::string source_dir() { return GTOKEN_SOURCE_DIR; }
std::string binary_dir() { return GTOKEN_BINARY_DIR; }

std::shared_ptr<kube::Client> admin_client(const std::string& kubeconfig) {
  auto cfg = kube::load_default_config(kubeconfig);
  auto http = std::make_shared<kube::HttpClient>(kube::http_options(cfg));
  return std::make_shared<kube::Client>(http, "gtoken-itest");
}

std::string make_namespace(kube::Client& c, const std::string& prefix) {
  static std::mt19937 rng(std::random_device{}());
  std::string name = prefix + "-" + std::to_string(rng() % 1000000);
  c.create(kube::resources::namespaces(), "",
           {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}});
  return name;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

int run(const std::string& cmd, std::string* out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::array<char, 4096> buf{};
  std::string text;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) text.append(buf.data(), n);
  int status = pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

Process::Process(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  fd_ = fds[0];
}

Process::~Process() {
  kill(SIGKILL);
  if (fd_ >= 0) close(fd_);
}

void Process::kill(int sig) {
  if (pid_ > 0) {
    ::kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

std::optional<std::string> Process::read_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

namespace {
std::string cp_script() { return source_dir() + "/tests/controlplane/cp.sh"; }
}  // namespace

ControlPlane::ControlPlane(const std::string& name, int apiservers, bool watch_cache)
    : dir_(binary_dir() + "/cp-" + name) {
  std::string env = "GTOKEN_CP_APISERVERS=" + std::to_string(apiservers) +
                    " GTOKEN_CP_WATCH_CACHE=" + (watch_cache ? "true" : "false");
  run(cp_script() + " stop " + dir_ + " >/dev/null 2>&1");
  std::string out;
  if (run(env + " " + cp_script() + " start " + dir_ + " 2>&1", &out) != 0) {
    throw std::runtime_error("control plane did not start: " + out);
  }
}

ControlPlane::~ControlPlane() { run(cp_script() + " stop " + dir_ + " >/dev/null 2>&1"); }

std::string ControlPlane::kubeconfig(int apiserver) const {
  return dir_ + (apiserver == 0 ? "/kubeconfig" : "/kubeconfig-" + std::to_string(apiserver));
}

void ControlPlane::kill_apiserver(int n) {
  run(cp_script() + " kill-apiserver " + dir_ + " " + std::to_string(n) + " >/dev/null 2>&1");
}

void ControlPlane::start_apiserver(int n) {
  std::string out;
  if (run(cp_script() + " start-apiserver " + dir_ + " " + std::to_string(n) + " 2>&1", &out) != 0) {
    throw std::runtime_error("apiserver did not restart: " + out);
  }
}

std::string ControlPlane::compact() {
  std::string out;
  if (run(cp_script() + " compact " + dir_, &out) != 0) throw std::runtime_error("compact failed");
  while (!out.empty() && (out.back() == '\n')) out.pop_back();
  return out;
}

}  // namespace itest
