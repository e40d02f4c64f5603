#include <dirent.h>
#include <fcntl.h>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/atomic_file.hpp"
#include "agent/sinks.hpp"
#include "agent/testing/fakes.hpp"

using namespace gtoken::agent;
using namespace std::chrono_literals;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/agent_atomic_test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    DIR* d = ::opendir(path.c_str());
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") {
        out.push_back(n);
      }
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

constexpr TimePoint kNow = TimePoint{} + std::chrono::seconds(1700000000);

}  // namespace

TEST_CASE("writes the data with the requested mode, whatever the umask") {
  TempDir dir;
  const std::string target = dir.file("gtoken");
  mode_t old = ::umask(077);
  write_file_atomically(target, "hello", 0644);
  ::umask(old);
  CHECK(slurp(target) == "hello");
  CHECK(mode_of(target) == 0644);
  CHECK(dir.entries() == std::vector<std::string>{"gtoken"});

  write_file_atomically(target, "second", 0600);
  CHECK(slurp(target) == "second");
  CHECK(mode_of(target) == 0600);
  CHECK(dir.entries() == std::vector<std::string>{"gtoken"});
}

TEST_CASE("temp files live beside the target with a hidden name") {
  CHECK(temp_prefix("/var/run/secrets/aws/token/gtoken") ==
        "/var/run/secrets/aws/token/.gtoken.tmp-");
  CHECK(temp_prefix("gtoken") == "./.gtoken.tmp-");
  CHECK(temp_prefix("/gtoken") == "/.gtoken.tmp-");
}

TEST_CASE("refuses empty data and leaves the old file") {
  TempDir dir;
  const std::string target = dir.file("gtoken");
  write_file_atomically(target, "old", 0644);
  CHECK_THROWS_AS(write_file_atomically(target, "", 0644), WriteError);
  CHECK(slurp(target) == "old");
  CHECK(dir.entries() == std::vector<std::string>{"gtoken"});
}

TEST_CASE("a failure at any stage before the rename leaves the old file and no temp file") {
  for (WriteStage stage : {WriteStage::create, WriteStage::write, WriteStage::chmod,
                           WriteStage::sync, WriteStage::close, WriteStage::rename}) {
    CAPTURE(stage_name(stage));
    TempDir dir;
    const std::string target = dir.file("gtoken");
    write_file_atomically(target, "old", 0644);
    WriteFault fault = [stage](WriteStage s) { return s == stage ? ENOSPC : 0; };
    try {
      write_file_atomically(target, "new", 0644, fault);
      FAIL("expected a WriteError");
    } catch (const WriteError& e) {
      std::string what = e.what();
      CHECK(what.find(stage_name(stage)) != std::string::npos);
      CHECK(what.find(std::strerror(ENOSPC)) != std::string::npos);
    }
    CHECK(slurp(target) == "old");
    CHECK(mode_of(target) == 0644);
    CHECK(dir.entries() == std::vector<std::string>{"gtoken"});
  }
}

TEST_CASE("a failure to sync the directory is reported, the new file is in place") {
  TempDir dir;
  const std::string target = dir.file("gtoken");
  WriteFault fault = [](WriteStage s) { return s == WriteStage::sync_dir ? EIO : 0; };
  CHECK_THROWS_AS(write_file_atomically(target, "new", 0644, fault), WriteError);
  CHECK(slurp(target) == "new");
  CHECK(dir.entries() == std::vector<std::string>{"gtoken"});
}

TEST_CASE("real failures: missing directory, target is a directory") {
  TempDir dir;
  CHECK_THROWS_AS(write_file_atomically(dir.file("missing/gtoken"), "x", 0644), WriteError);
  REQUIRE(::mkdir(dir.file("adir").c_str(), 0755) == 0);
  CHECK_THROWS_AS(write_file_atomically(dir.file("adir"), "x", 0644), WriteError);
  CHECK(dir.entries() == std::vector<std::string>{"adir"});
  CHECK_THROWS_AS(write_file_atomically(dir.path + "/", "x", 0644), WriteError);
}

TEST_CASE("a concurrent reader never sees an empty or partial file") {
  TempDir dir;
  const std::string target = dir.file("gtoken");
  const std::string a(3000, 'a'), b(5000, 'b');
  write_file_atomically(target, a, 0644);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, bad{0};
  std::thread reader([&] {
    while (!done.load()) {
      std::string s = slurp(target);
      if (s != a && s != b) {
        bad.fetch_add(1);
      }
      reads.fetch_add(1);
    }
  });
  for (int i = 0; i < 300; ++i) {
    write_file_atomically(target, i % 2 ? a : b, 0644);
  }
  // Let the reader make progress even on a busy machine.
  while (reads.load() < 50) {
    std::this_thread::sleep_for(1ms);
  }
  done.store(true);
  reader.join();
  CHECK(bad.load() == 0);
  CHECK(dir.entries() == std::vector<std::string>{"gtoken"});
}

TEST_CASE("FileSink writes only JWTs with exp, with the configured mode") {
  TempDir dir;
  const std::string target = dir.file("gtoken");
  FileSink sink(target, 0640);
  const std::string tok = testing::make_jwt(kNow, kNow + 1h);
  const JwtTimes times{kNow + 1h, kNow};
  sink.write(tok, times);
  CHECK(slurp(target) == tok);  // byte for byte: no trailing newline
  CHECK(mode_of(target) == 0640);

  CHECK_THROWS_AS(sink.write("<html>oops</html>", times), WriteError);
  CHECK_THROWS_AS(sink.write(testing::make_jwt({{"iat", 1}}), times), WriteError);
  CHECK_THROWS_AS(sink.write("", times), WriteError);
  CHECK(slurp(target) == tok);
  CHECK(sink.describe() == target);
}

TEST_CASE("FileSink: an injected write failure leaves the previous token") {
  TempDir dir;
  const std::string target = dir.file("gtoken");
  bool fail = false;
  FileSink sink(target, 0644,
                [&](WriteStage s) { return fail && s == WriteStage::write ? EIO : 0; });
  const std::string t1 = testing::make_jwt(kNow, kNow + 1h);
  const std::string t2 = testing::make_jwt(kNow + 30min, kNow + 90min);
  sink.write(t1, {kNow + 1h, kNow});
  fail = true;
  CHECK_THROWS_AS(sink.write(t2, {kNow + 90min, kNow + 30min}), WriteError);
  CHECK(slurp(target) == t1);
  fail = false;
  sink.write(t2, {kNow + 90min, kNow + 30min});
  CHECK(slurp(target) == t2);
  CHECK(dir.entries() == std::vector<std::string>{"gtoken"});
}

namespace {

void touch(const std::string& path, const std::string& data = "partial") {
  std::ofstream(path, std::ios::binary) << data;
}

bool exists_nofollow(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// A temp file exactly as write_file_atomically creates it, as a crash
// between create and rename would leave it.
std::string leave_temp_file(const std::string& target) {
  std::string tmpl = temp_prefix(target) + "XXXXXX";
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "eyJ", 3) == 3);
  ::close(fd);
  return tmpl;
}

}  // namespace

TEST_CASE("is_own_temp_name: only the target's own mkostemp pattern") {
  const std::string t = "/var/run/secrets/aws/token/gtoken";
  CHECK(is_own_temp_name(t, ".gtoken.tmp-AbC123"));
  CHECK(is_own_temp_name(t, ".gtoken.tmp-000000"));
  CHECK_FALSE(is_own_temp_name(t, "gtoken"));
  CHECK_FALSE(is_own_temp_name(t, ".gtoken.tmp-"));
  CHECK_FALSE(is_own_temp_name(t, ".gtoken.tmp-AbC12"));
  CHECK_FALSE(is_own_temp_name(t, ".gtoken.tmp-AbC1234"));
  CHECK_FALSE(is_own_temp_name(t, ".gtoken.tmp-AbC.23"));
  CHECK_FALSE(is_own_temp_name(t, ".gtoken.tmp-../../x"));
  CHECK_FALSE(is_own_temp_name(t, ".gtoken.tmp-AbC/23"));
  CHECK_FALSE(is_own_temp_name(t, ".other.tmp-AbC123"));
  CHECK_FALSE(is_own_temp_name(t, ".gtoken2.tmp-AbC123"));
  CHECK_FALSE(is_own_temp_name(t, "x.gtoken.tmp-AbC123"));
  CHECK_FALSE(is_own_temp_name("/dir/", "..tmp-AbC123"));
  // Every name mkostemp really makes matches.
  TempDir dir;
  for (int i = 0; i < 20; ++i) {
    std::string made = leave_temp_file(dir.file("gtoken"));
    CHECK(is_own_temp_name(dir.file("gtoken"), made.substr(made.rfind('/') + 1)));
  }
}

TEST_CASE("sweep removes the target's stale temp files and nothing else") {
  TempDir dir;
  TempDir outside;
  const std::string target = dir.file("gtoken");
  write_file_atomically(target, "current-token", 0644);
  const std::string stale1 = leave_temp_file(target);
  const std::string stale2 = leave_temp_file(target);

  // Look-alikes that must stay.
  touch(dir.file(".gtoken.tmp-abc"));
  touch(dir.file(".gtoken.tmp-abcdefg"));
  touch(dir.file(".gtoken.tmp-ab.cde"));
  touch(dir.file(".other.tmp-ABCDEF"));
  touch(dir.file("gtoken.tmp-ABCDEF"));
  // A matching name that is a symlink: neither it nor its target is touched.
  touch(outside.file("victim"), "precious");
  REQUIRE(::symlink(outside.file("victim").c_str(), dir.file(".gtoken.tmp-LINK01").c_str()) == 0);
  // A dangling one too.
  REQUIRE(::symlink("/nonexistent/x", dir.file(".gtoken.tmp-LINK02").c_str()) == 0);
  // A matching name that is a directory, with a matching name inside.
  REQUIRE(::mkdir(dir.file(".gtoken.tmp-DIR001").c_str(), 0755) == 0);
  touch(dir.file(".gtoken.tmp-DIR001/.gtoken.tmp-INNER1"));
  // No recursion into subdirectories.
  REQUIRE(::mkdir(dir.file("sub").c_str(), 0755) == 0);
  touch(dir.file("sub/.gtoken.tmp-SUB001"));
  // A symlinked directory with a matching file behind it.
  touch(outside.file(".gtoken.tmp-OUT001"));
  REQUIRE(::symlink(outside.path.c_str(), dir.file("linked").c_str()) == 0);

  SweepResult r = sweep_stale_temp_files(target);
  CHECK(r.errors.empty());
  std::vector<std::string> removed = r.removed;
  std::sort(removed.begin(), removed.end());
  std::vector<std::string> expected = {stale1.substr(stale1.rfind('/') + 1),
                                       stale2.substr(stale2.rfind('/') + 1)};
  std::sort(expected.begin(), expected.end());
  CHECK(removed == expected);
  CHECK_FALSE(exists_nofollow(stale1));
  CHECK_FALSE(exists_nofollow(stale2));

  CHECK(slurp(target) == "current-token");
  CHECK(dir.entries() ==
        std::vector<std::string>{".gtoken.tmp-DIR001", ".gtoken.tmp-LINK01", ".gtoken.tmp-LINK02",
                                 ".gtoken.tmp-ab.cde", ".gtoken.tmp-abc", ".gtoken.tmp-abcdefg",
                                 ".other.tmp-ABCDEF", "gtoken", "gtoken.tmp-ABCDEF", "linked",
                                 "sub"});
  CHECK(slurp(outside.file("victim")) == "precious");
  CHECK(exists_nofollow(outside.file(".gtoken.tmp-OUT001")));
  CHECK(exists_nofollow(dir.file(".gtoken.tmp-DIR001/.gtoken.tmp-INNER1")));
  CHECK(exists_nofollow(dir.file("sub/.gtoken.tmp-SUB001")));

  // Idempotent, and writing still works afterwards.
  CHECK(sweep_stale_temp_files(target).removed.empty());
  write_file_atomically(target, "next-token", 0644);
  CHECK(slurp(target) == "next-token");
}

TEST_CASE("sweep: missing directory or nothing to do is quiet") {
  TempDir dir;
  SweepResult r = sweep_stale_temp_files(dir.file("missing/gtoken"));
  CHECK(r.removed.empty());
  CHECK(r.errors.empty());
  r = sweep_stale_temp_files(dir.file("gtoken"));  // no target yet, no temp files
  CHECK(r.removed.empty());
  CHECK(r.errors.empty());
  CHECK(sweep_stale_temp_files("").removed.empty());
  CHECK(sweep_stale_temp_files(dir.path + "/").removed.empty());
}

TEST_CASE("sweep leaves files of other users alone") {
  if (::geteuid() != 0) {
    MESSAGE("not root: cannot make a file owned by another user; skipped");
    return;
  }
  TempDir dir;
  const std::string target = dir.file("gtoken");
  const std::string theirs = leave_temp_file(target);
  REQUIRE(::chown(theirs.c_str(), 12345, 12345) == 0);
  const std::string mine = leave_temp_file(target);
  SweepResult r = sweep_stale_temp_files(target);
  CHECK(r.removed == std::vector<std::string>{mine.substr(mine.rfind('/') + 1)});
  CHECK(exists_nofollow(theirs));
}
