#pragma once
// Token sinks: the token file (the normal case) and stdout (no --file, as in
// the seed tool).

#include <sys/types.h>

#include <string>

#include "agent/atomic_file.hpp"
#include "agent/token_source.hpp"

namespace gtoken::agent {

inline constexpr mode_t kDefaultFileMode = 0644;

class FileSink final : public TokenSink {
 public:
  FileSink(std::string path, mode_t mode = kDefaultFileMode, WriteFault fault = {});
  // Refuses (WriteError) anything that does not parse as a JWT with exp.
  void write(const std::string& token, const JwtTimes& times) override;
  std::string describe() const override { return path_; }

 private:
  std::string path_;
  mode_t mode_;
  WriteFault fault_;
};

// One token per line on stdout.
class StdoutSink final : public TokenSink {
 public:
  void write(const std::string& token, const JwtTimes& times) override;
  std::string describe() const override { return "stdout"; }
};

}  // namespace gtoken::agent
