#pragma once
// Shared helpers for integration tests against the real control plane.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kube/client.hpp"
#include "kube/config.hpp"

namespace itest {

// A client for the shared control plane ($KUBECONFIG, set by ctest).
std::shared_ptr<kube::Client> admin_client(const std::string& kubeconfig = "");

// Creates a namespace with a unique name (prefix + random suffix).
std::string make_namespace(kube::Client& c, const std::string& prefix);

// Polls `pred` every 50 ms until it returns true or `timeout` passes.
bool eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Runs a command through /bin/sh; returns its exit status. Output captured
// into `out` when given.
int run(const std::string& cmd, std::string* out = nullptr);

// A child process with its stdout piped to us; killed (SIGKILL) on destruction.
class Process {
 public:
  explicit Process(const std::vector<std::string>& argv);
  ~Process();
  // Next stdout line, or nullopt on EOF or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  void kill(int sig);
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  int fd_ = -1;
  std::string buffer_;
};

std::string source_dir();
std::string binary_dir();

// A control plane of the test's own (for tests that kill or compact it).
// Knobs are GTOKEN_CP_* environment values (see tests/controlplane/cp.sh).
class ControlPlane {
 public:
  explicit ControlPlane(const std::string& name, int apiservers = 1, bool watch_cache = true);
  ~ControlPlane();
  std::string kubeconfig(int apiserver = 0) const;
  void kill_apiserver(int n = 0);
  void start_apiserver(int n = 0);
  // Compacts etcd to its current revision; returns the revision.
  std::string compact();
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace itest
