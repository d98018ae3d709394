// Atomic writes: a failed write (file size limit standing in for a full disk) leaves the old
// file and no temporary; temporaries of killed writers are removed, those of running ones kept.
#include "io/fileio.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"
#include "vae/error.h"

namespace {

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A pid that named a process a moment ago and names none now: a child that exited and was
// reaped (pids are reused only after the counter wraps).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

TEST(AtomicFile, CommitReplacesTheFileAndLeavesNoTemporary) {
  vae_test::TempDir dir;
  const std::string path = dir.file("a.bin");
  vae::write_file_atomic(path, "old");
  vae::write_file_atomic(path, "new contents");
  EXPECT_EQ(vae_test::read_bytes(path), "new contents");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"a.bin"});
}

TEST(AtomicFile, AnAbandonedWriteLeavesTheOldFile) {
  vae_test::TempDir dir;
  const std::string path = dir.file("a.bin");
  vae::write_file_atomic(path, "old");
  {
    vae::AtomicFile f(path);
    f.write("partial", 7);
  }  // destroyed without commit(), as when an exception passes
  EXPECT_EQ(vae_test::read_bytes(path), "old");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"a.bin"});
}

// RLIMIT_FSIZE stands in for a full disk: past the limit write(2) fails (EFBIG; SIGXFSZ, which
// would kill the process, is ignored meanwhile), as it fails with ENOSPC on a full one. It needs
// no privileges. CTest runs each test in its own process, so no other write sees the limit.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim = saved_;
    lim.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &lim) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = SIG_DFL;
  bool ok_ = false;
};

TEST(AtomicFile, AFailedWriteIsAnErrorAndLeavesTheOldFileIntact) {
  vae_test::TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  const std::string old(3000, 'o');
  vae::write_file_atomic(path, old);
  const std::string big(256 << 10, 'n');  // larger than stdio's buffer: fails in write() or at commit
  std::string msg;
  {
    FileSizeLimit limit(16 << 10);
    ASSERT_TRUE(limit.ok());
    try {
      vae::write_file_atomic(path, big);
    } catch (const vae::Error& e) {
      msg = e.what();
    }
  }
  EXPECT_EQ(msg.rfind(path + ": write failed (", 0), 0u) << msg;
  EXPECT_NE(msg.find(std::strerror(EFBIG)), std::string::npos) << msg;
  EXPECT_NE(msg.find("left as it was"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(vae_test::read_bytes(path), old);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"ckpt.safetensors"});
}

TEST(StaleTemporaries, OnlyThoseOfDeadWritersOfThatFileAreRemoved) {
  vae_test::TempDir dir;
  const std::string dead = std::to_string(dead_pid());
  const std::string me = std::to_string(::getpid());
  const std::string parent = std::to_string(::getppid());  // running: it waits for this test
  for (const std::string& name :
       {"a.bin.tmp." + dead, "a.bin.tmp." + me, "a.bin.tmp." + parent, "b.bin.tmp." + dead,
        std::string("a.bin.tmp.x1"), std::string("a.bin.tmp."), std::string("a.bin"),
        "xa.bin.tmp." + dead})
    vae_test::write_bytes(dir.file(name), "x");
  EXPECT_EQ(vae::remove_stale_temporaries(dir.path(), "a.bin"), 1u);
  std::vector<std::string> kept = {"a.bin",        "a.bin.tmp.",         "a.bin.tmp." + me,
                                   "a.bin.tmp." + parent, "a.bin.tmp.x1", "b.bin.tmp." + dead,
                                   "xa.bin.tmp." + dead};
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(names_in(dir.path()), kept);
  EXPECT_EQ(vae::remove_stale_temporaries(dir.file("missing"), "a.bin"), 0u);
}

TEST(StaleTemporaries, AWriteRemovesThoseOfItsOwnFile) {
  vae_test::TempDir dir;
  const std::string dead = std::to_string(dead_pid());
  vae_test::write_bytes(dir.file("a.bin.tmp." + dead), "left by a killed writer");
  vae_test::write_bytes(dir.file("b.bin.tmp." + dead), "someone else's");
  vae::write_file_atomic(dir.file("a.bin"), "fresh");
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"a.bin", "b.bin.tmp." + dead}));
}

TEST(FreeBytes, KnownForAFolderUnknownForNone) {
  vae_test::TempDir dir;
  const auto free = vae::free_bytes(dir.path());
  ASSERT_TRUE(free.has_value());
  EXPECT_GT(*free, 0u);
  EXPECT_FALSE(vae::free_bytes(dir.file("missing")).has_value());
}

TEST(ReadFile, AFolderIsNamedAsAFolder) {
  vae_test::TempDir dir;
  try {
    vae::read_file(dir.path());
    FAIL() << "a folder was read as a file";
  } catch (const vae::Error& e) {
    EXPECT_EQ(std::string(e.what()), dir.path() + ": is a folder, not a file");
  }
}

}  // namespace
