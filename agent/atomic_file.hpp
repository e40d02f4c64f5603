#pragma once
// Replaces a file so that a reader sees either the old contents or the new,
// never an empty or partial file: write a temp file in the same directory,
// fsync it, set its mode, rename it over the target, fsync the directory.

#include <sys/types.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gtoken::agent {

class WriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class WriteStage { create, write, chmod, sync, close, rename, sync_dir };
const char* stage_name(WriteStage s);

// Test hook: called before each stage; a non-zero return is used as the
// errno of a failure at that stage.
using WriteFault = std::function<int(WriteStage)>;

// Throws WriteError (with the stage and strerror) and leaves the target and
// the directory as they were: the temp file is removed on every failure.
// Refuses empty data. `mode` is applied with fchmod, so the umask does not
// narrow it.
void write_file_atomically(const std::string& path, std::string_view data, mode_t mode,
                           const WriteFault& fault = {});

// Temp files are named ".<basename>.tmp-XXXXXX" beside the target.
std::string temp_prefix(const std::string& path);

}  // namespace gtoken::agent
