#include "io/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "vae/error.h"

namespace vae {

namespace {

// The pid a holder wrote into the lock file, "" when there is none yet (it may be between
// taking the lock and writing its pid).
std::string holder_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.find_first_not_of("0123456789") == std::string::npos ? pid : "";
}

// Opens and locks the lock file; -1 (with *err) when another process holds it, or when the file
// was removed by its last holder between our open and our flock (then the caller tries again).
int open_locked(const std::string& path, int* err, bool* replaced) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot open the run folder's lock (" + std::strerror(errno) + ")");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    *err = errno;
    return fd;
  }
  struct stat held, named;
  *replaced = ::fstat(fd, &held) != 0 || ::stat(path.c_str(), &named) != 0 ||
              held.st_ino != named.st_ino || held.st_dev != named.st_dev;
  return fd;
}

}  // namespace

RunLock::RunLock(const std::string& dir) : path_(dir + "/" + kRunLockFile) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    int err = 0;
    bool replaced = false;
    const int fd = open_locked(path_, &err, &replaced);
    if (err != 0) {
      const std::string pid = holder_pid(fd);
      ::close(fd);
      if (err != EWOULDBLOCK)
        throw Error(path_ + ": cannot lock the run folder (" + std::strerror(err) + ")");
      throw Error(dir + ": another vae train" + (pid.empty() ? "" : " (pid " + pid + ")") +
                  " is writing this run folder; wait for it to end, or give another --out");
    }
    if (replaced) {  // its holder removed it as it ended: lock the file now at the path
      ::close(fd);
      continue;
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
      const int werr = errno;
      ::close(fd);
      throw Error(path_ + ": cannot write the run folder's lock (" + std::strerror(werr) + ")");
    }
    fd_ = fd;
    return;
  }
  throw Error(path_ + ": cannot lock the run folder (it keeps being replaced)");
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  // Removed while still held, so that a writer that opened it meanwhile sees it replaced.
  ::unlink(path_.c_str());
  ::close(fd_);
}

RunLock::RunLock(RunLock&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    RunLock old(std::move(*this));
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

}  // namespace vae
