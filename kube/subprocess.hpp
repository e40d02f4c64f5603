#pragma once
// Running a program and capturing what it prints: kubeconfig exec
// credential plugins (kube/exec_credential.*) and kubectl-gtoken's
// `kubectl exec`.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace kube {

struct Captured {
  bool ran = false;  // false: could not be started, or killed at the deadline (error says which)
  std::string error;
  int exit_code = -1;  // 128 + signal when killed by one
  std::string out;     // stdout, at most 1 MiB kept
  std::string err;     // stderr, at most 1 MiB kept
};

// Runs argv (argv[0] looked up in PATH) with this process's environment plus
// `extra_env`, stdin from /dev/null; killed after `timeout`.
Captured run_captured(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                      const std::vector<std::pair<std::string, std::string>>& extra_env = {});

}  // namespace kube
