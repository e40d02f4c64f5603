#pragma once
// The gtoken-operator process: informers, leader election, the controller
// (leader only) and the webhook (every replica), wired together. The only
// code no test links: everything it wires is tested on its own.

#include "operator/options.hpp"

namespace gtoken {

// Runs until SIGTERM/SIGINT. Returns the exit code.
int run_operator(const OperatorOptions& options);

}  // namespace gtoken
