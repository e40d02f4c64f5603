#include "agent/probe.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/errno_text.hpp"

namespace gtoken::agent {

std::string read_token_file(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return "cannot open " + path + ": " + errno_text(errno);
  }
  std::string data;
  char buf[4096];
  bool too_big = false;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return "cannot read " + path + ": " + errno_text(err);
    }
    if (n == 0) {
      break;
    }
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxTokenSize) {
      too_big = true;
      break;
    }
  }
  ::close(fd);
  if (data.empty()) {
    return path + " is empty";
  }
  if (too_big) {
    return path + " is larger than a token can be";
  }
  *out = std::move(data);
  return {};
}

ProbeResult probe_token_file(const std::string& path, TimePoint now,
                             std::chrono::milliseconds min_validity) {
  std::string data;
  if (std::string failed = read_token_file(path, &data); !failed.empty()) {
    return {false, failed};
  }
  std::string why;
  auto times = parse_jwt_times(data, &why);
  if (!times) {
    return {false, path + ": " + why};
  }
  if (times->exp <= now + min_validity) {
    return {false, path + ": token expires at " + format_rfc3339(times->exp) +
                       ", less than the required validity ahead"};
  }
  return {true, "token valid until " + format_rfc3339(times->exp)};
}

}  // namespace gtoken::agent
