#pragma once
// `gtoken probe`: the native sidecar's startupProbe. Passes iff the token
// file exists, is non-empty, parses as a JWT, and its exp is more than
// min_validity ahead. The file is read byte for byte as the SDKs read it (no
// trimming), so a stray newline fails the probe.

#include <chrono>
#include <string>

#include "agent/jwt.hpp"

namespace gtoken::agent {

struct ProbeResult {
  bool ok = false;
  std::string reason;  // why it failed, or the token's exp when it passed
};

// Reads a token file whole, byte for byte, refusing more than kMaxTokenSize
// bytes. Returns "" and fills *data, or the reason (which never quotes the
// contents).
std::string read_token_file(const std::string& path, std::string* data);

ProbeResult probe_token_file(const std::string& path, TimePoint now,
                             std::chrono::milliseconds min_validity);

}  // namespace gtoken::agent
