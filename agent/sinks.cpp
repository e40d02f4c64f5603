#include "agent/sinks.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/errno_text.hpp"

namespace gtoken::agent {

FileSink::FileSink(std::string path, mode_t mode, WriteFault fault)
    : path_(std::move(path)), mode_(mode), fault_(std::move(fault)) {}

void FileSink::write(const std::string& token, const JwtTimes&) {
  std::string why;
  if (!parse_jwt_times(token, &why)) {
    throw WriteError("refusing to write " + path_ + ": " + why);
  }
  // Written with SIGTERM/SIGINT blocked (outside StopSignal::interruptible):
  // a stop never lands between creating and renaming the temp file.
  write_file_atomically(path_, token, mode_, fault_);
}

void StdoutSink::write(const std::string& token, const JwtTimes&) {
  std::string line = token + "\n";
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw std::runtime_error(std::string("writing to stdout: ") + errno_text(errno));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace gtoken::agent
