#pragma once
// Replaces a file so that a reader sees either the old contents or the new,
// never an empty or partial file: write a temp file in the same directory,
// fsync it, set its mode, rename it over the target, fsync the directory.

#include <sys/types.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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

// True iff `entry` (a bare file name) is one of the temp files
// write_file_atomically makes for `path`: ".<basename>.tmp-" followed by
// exactly six letters or digits (mkostemp's XXXXXX).
bool is_own_temp_name(const std::string& path, std::string_view entry);

struct SweepResult {
  std::vector<std::string> removed;  // entry names
  std::vector<std::string> errors;   // one line each, for a warning
};

// Removes temp files that a crash between create and rename left beside
// `path`. Only in that one directory (no recursion), only entries named by
// is_own_temp_name, only regular files owned by this process's effective
// UID: entries are examined with fstatat(AT_SYMLINK_NOFOLLOW) and removed
// with unlinkat relative to the opened directory, so a symlink is never
// followed (a symlink or directory with a matching name is left alone).
// Never throws; problems are reported in `errors`.
SweepResult sweep_stale_temp_files(const std::string& path);

}  // namespace gtoken::agent
