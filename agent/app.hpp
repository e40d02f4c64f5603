#pragma once
// Process entry: parses the command line and runs a mode. Kept in the core
// library so main.cpp is one line; the parts worth testing (options, probe,
// refresher, sinks, sources) are tested on their own.
//
// Exit codes: 0 token written / stopped by SIGTERM or SIGINT / probe passed /
// --version; 1 --once gave up after --once-timeout, or the probe failed;
// 2 bad command line.

namespace gtoken::agent {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

int main_entry(int argc, char** argv);

}  // namespace gtoken::agent
