// Atomic writes: a failed write (file size limit standing in for a full disk) leaves the old
// file and no temporary; temporaries of killed writers are removed, those of running ones kept.
#include "io/fileio.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
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

// ---------------------------------------------------------------------------------------------
// What lies at the output path: devices, FIFOs and standard output are written through, links
// have their target replaced, folders and sockets are refused. Devices are copies made in a temp
// folder (mknod, as root) so that a regression cannot replace the system's /dev/null.

mode_t kind_of(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? (st.st_mode & S_IFMT) : 0;
}

// A character device in `dir` with the numbers of /dev/null (1, 3) or /dev/full (1, 7); when
// mknod is not allowed (not root), the system's own device, which an unprivileged process can
// neither replace nor remove. "" when neither can be used.
std::string char_device(const vae_test::TempDir& dir, const std::string& name, unsigned minor) {
  const std::string path = dir.file(name);
  if (::mknod(path.c_str(), S_IFCHR | 0666, makedev(1, minor)) == 0) return path;
  return ::geteuid() != 0 ? "/dev/" + name : "";
}

std::string error_of(const std::string& path, const std::string& bytes) {
  try {
    vae::write_file_atomic(path, bytes);
  } catch (const vae::Error& e) {
    return e.what();
  }
  return "";
}

TEST(OutputTarget, ACharacterDeviceIsWrittenThroughNotReplaced) {
  vae_test::TempDir dir;
  const std::string null = char_device(dir, "null", 3);
  if (null.empty()) GTEST_SKIP() << "cannot make a device node";
  vae::write_file_atomic(null, "some bytes");
  EXPECT_EQ(kind_of(null), static_cast<mode_t>(S_IFCHR));
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"null"}) << "no temporary left";
}

TEST(OutputTarget, AFullDeviceIsOneErrorAndStaysADevice) {
  vae_test::TempDir dir;
  const std::string full = char_device(dir, "full", 7);
  if (full.empty()) GTEST_SKIP() << "cannot make a device node";
  const std::string err = error_of(full, std::string(100000, 'x'));
  EXPECT_EQ(err, full + ": write failed (" + std::strerror(ENOSPC) + ")");
  EXPECT_EQ(kind_of(full), static_cast<mode_t>(S_IFCHR));
}

TEST(OutputTarget, AFifoWithAReaderGetsTheBytes) {
  vae_test::TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] {
    const int fd = ::open(fifo.c_str(), O_RDONLY);
    char buf[256];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
    ::close(fd);
  });
  // The writer must find the reader there: wait until the reader's open is under way.
  std::string err;
  for (int i = 0; i < 2000; ++i) {
    err = error_of(fifo, "through the pipe");
    if (err.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!err.empty()) ::close(::open(fifo.c_str(), O_WRONLY));  // lets the reader end
  reader.join();
  EXPECT_EQ(err, "");
  EXPECT_EQ(got, "through the pipe");
  EXPECT_EQ(kind_of(fifo), static_cast<mode_t>(S_IFIFO));
}

TEST(OutputTarget, AFifoNobodyReadsFailsAtOnce) {
  vae_test::TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_of(fifo, "x"), fifo + ": cannot write (no process is reading it)");
  EXPECT_EQ(kind_of(fifo), static_cast<mode_t>(S_IFIFO));
}

TEST(OutputTarget, ASymlinkHasItsTargetReplacedAndStaysALink) {
  vae_test::TempDir dir;
  std::filesystem::create_directory(dir.file("sub"));
  vae::write_file_atomic(dir.file("sub/target.json"), "old");
  ASSERT_EQ(::chmod(dir.file("sub/target.json").c_str(), 0640), 0);
  ASSERT_EQ(::symlink("sub/target.json", dir.file("link.json").c_str()), 0);
  ASSERT_EQ(::symlink("link.json", dir.file("link2.json").c_str()), 0);  // a chain of two
  vae::write_file_atomic(dir.file("link2.json"), "new");
  EXPECT_EQ(vae_test::read_bytes(dir.file("sub/target.json")), "new");
  EXPECT_EQ(kind_of(dir.file("link.json")), static_cast<mode_t>(S_IFLNK));
  EXPECT_EQ(kind_of(dir.file("link2.json")), static_cast<mode_t>(S_IFLNK));
  struct stat st;
  ASSERT_EQ(::stat(dir.file("sub/target.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u) << "the replaced file keeps its permission bits";
  // A link to a file not there yet: the file is made, the link stays.
  ASSERT_EQ(::symlink("made.txt", dir.file("dangling").c_str()), 0);
  vae::write_file_atomic(dir.file("dangling"), "made");
  EXPECT_EQ(vae_test::read_bytes(dir.file("made.txt")), "made");
  EXPECT_EQ(kind_of(dir.file("dangling")), static_cast<mode_t>(S_IFLNK));
  EXPECT_EQ(names_in(dir.path()),
            (std::vector<std::string>{"dangling", "link.json", "link2.json", "made.txt", "sub"}));
}

TEST(OutputTarget, AFolderOrASocketIsRefusedInOneLine) {
  vae_test::TempDir dir;
  std::filesystem::create_directory(dir.file("folder"));
  EXPECT_EQ(error_of(dir.file("folder"), "x"),
            dir.file("folder") + ": is a folder; give the name of a file to write");
  const std::string sock = dir.file("sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::strcpy(addr.sun_path, sock.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(error_of(sock, "x"), sock + ": is a socket; give the name of a file to write");
  EXPECT_EQ(kind_of(sock), static_cast<mode_t>(S_IFSOCK));
  ::close(fd);
  ASSERT_EQ(::symlink("folder", dir.file("to_folder").c_str()), 0);
  EXPECT_NE(error_of(dir.file("to_folder"), "x").find("is a folder"), std::string::npos);
}

TEST(OutputTarget, DashIsStandardOutput) {
  vae_test::TempDir dir;
  const std::string captured = dir.file("captured");
  const int fd = ::open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  vae::set_standard_output_fd(fd);
  vae::write_file_atomic(vae::kStandardOutput, "to stdout");
  vae::set_standard_output_fd(STDOUT_FILENO);
  ::close(fd);
  EXPECT_EQ(vae_test::read_bytes(captured), "to stdout");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"captured"});
}

}  // namespace
