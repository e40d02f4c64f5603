#include "agent/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "agent/errno_text.hpp"

namespace gtoken::agent {

namespace {

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  if (slash == 0) {
    return "/";
  }
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

[[noreturn]] void fail(WriteStage stage, const std::string& path, int err) {
  throw WriteError(std::string("writing ") + path + ": " + stage_name(stage) + ": " +
                   errno_text(err));
}

// Runs the fault hook, then the step; returns errno of whichever failed, or 0.
template <typename F>
int step(const WriteFault& fault, WriteStage stage, F&& op) {
  if (fault) {
    if (int injected = fault(stage)) {
      return injected;
    }
  }
  return op() ? 0 : (errno ? errno : EIO);
}

}  // namespace

const char* stage_name(WriteStage s) {
  switch (s) {
    case WriteStage::create:
      return "create temp file";
    case WriteStage::write:
      return "write";
    case WriteStage::chmod:
      return "chmod";
    case WriteStage::sync:
      return "fsync";
    case WriteStage::close:
      return "close";
    case WriteStage::rename:
      return "rename";
    case WriteStage::sync_dir:
      return "fsync directory";
  }
  return "?";
}

std::string temp_prefix(const std::string& path) {
  std::string dir = dir_of(path);
  std::string out = dir == "/" ? "" : dir;
  out.append("/.").append(base_of(path)).append(".tmp-");
  return out;
}

bool is_own_temp_name(const std::string& path, std::string_view entry) {
  // append() rather than operator+ chains: GCC 12 reports a false
  // -Wrestrict on the latter at -O3 (GCC bug 105329), which broke Release.
  std::string prefix = ".";
  prefix.append(base_of(path)).append(".tmp-");
  if (base_of(path).empty() || entry.size() != prefix.size() + 6 ||
      entry.substr(0, prefix.size()) != prefix) {
    return false;
  }
  for (char c : entry.substr(prefix.size())) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum) {
      return false;
    }
  }
  return true;
}

SweepResult sweep_stale_temp_files(const std::string& path) {
  SweepResult out;
  if (path.empty() || path.back() == '/') {
    return out;
  }
  const std::string dir = dir_of(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    if (errno != ENOENT) {
      out.errors.push_back("opening " + dir + ": " + errno_text(errno));
    }
    return out;
  }
  // fdopendir takes ownership of dfd; a second descriptor for the *at calls.
  int list_fd = ::dup(dfd);
  DIR* d = list_fd >= 0 ? ::fdopendir(list_fd) : nullptr;
  if (!d) {
    out.errors.push_back("listing " + dir + ": " + errno_text(errno));
    if (list_fd >= 0) {
      ::close(list_fd);
    }
    ::close(dfd);
    return out;
  }
  const uid_t me = ::geteuid();
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (!e) {
      if (errno) {
        out.errors.push_back("listing " + dir + ": " + errno_text(errno));
      }
      break;
    }
    const std::string name = e->d_name;
    if (!is_own_temp_name(path, name)) {
      continue;
    }
    struct stat st{};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) {
        out.errors.push_back("examining " + dir + "/" + name + ": " + errno_text(errno));
      }
      continue;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != me) {
      continue;  // not a file this agent could have left behind
    }
    if (::unlinkat(dfd, name.c_str(), 0) == 0) {
      out.removed.push_back(name);
    } else if (errno != ENOENT) {
      out.errors.push_back("removing " + dir + "/" + name + ": " + errno_text(errno));
    }
  }
  ::closedir(d);
  ::close(dfd);
  return out;
}

void write_file_atomically(const std::string& path, std::string_view data, mode_t mode,
                           const WriteFault& fault) {
  if (data.empty()) {
    throw WriteError("writing " + path + ": refusing to write an empty file");
  }
  if (path.empty() || path.back() == '/') {
    throw WriteError("writing '" + path + "': not a file path");
  }

  std::string tmpl = temp_prefix(path) + "XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');

  int fd = -1;
  if (int err = step(fault, WriteStage::create, [&] {
        fd = ::mkostemp(name.data(), O_CLOEXEC);
        return fd >= 0;
      })) {
    fail(WriteStage::create, path, err);
  }

  // From here on, any failure removes the temp file.
  auto abort_with = [&](WriteStage stage, int err) {
    if (fd >= 0) {
      ::close(fd);
    }
    ::unlink(name.data());
    fail(stage, path, err);
  };

  if (int err = step(fault, WriteStage::write, [&] {
        const char* p = data.data();
        size_t left = data.size();
        while (left > 0) {
          ssize_t n = ::write(fd, p, left);
          if (n < 0 && errno == EINTR) {
            continue;
          }
          if (n < 0) {
            return false;
          }
          if (n == 0) {
            errno = EIO;
            return false;
          }
          p += n;
          left -= static_cast<size_t>(n);
        }
        return true;
      })) {
    abort_with(WriteStage::write, err);
  }
  if (int err = step(fault, WriteStage::chmod, [&] { return ::fchmod(fd, mode) == 0; })) {
    abort_with(WriteStage::chmod, err);
  }
  if (int err = step(fault, WriteStage::sync, [&] { return ::fsync(fd) == 0; })) {
    abort_with(WriteStage::sync, err);
  }
  if (int err = step(fault, WriteStage::close, [&] {
        int rc = ::close(fd);
        fd = -1;  // closed even when close() reports an error
        return rc == 0;
      })) {
    abort_with(WriteStage::close, err);
  }
  if (int err = step(fault, WriteStage::rename,
                     [&] { return ::rename(name.data(), path.c_str()) == 0; })) {
    abort_with(WriteStage::rename, err);
  }

  // The new file is in place. Making the rename durable is best effort on
  // file systems that cannot sync a directory (EINVAL); tmpfs syncs trivially.
  int err = step(fault, WriteStage::sync_dir, [&] {
    int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
      return false;
    }
    int rc = ::fsync(dfd);
    int saved = errno;
    ::close(dfd);
    errno = saved;
    return rc == 0 || errno == EINVAL;
  });
  if (err) {
    fail(WriteStage::sync_dir, path, err);
  }
}

}  // namespace gtoken::agent
