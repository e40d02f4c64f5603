#pragma once
// strerror without its shared static buffer (the unit tests call it from
// several threads; the agent itself has one).

#include <cstring>
#include <string>

namespace gtoken::agent {

inline std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r (g++ defines _GNU_SOURCE): returns the message, which may
  // or may not be in buf.
  return ::strerror_r(err, buf, sizeof buf);
}

}  // namespace gtoken::agent
