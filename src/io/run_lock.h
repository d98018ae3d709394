// One writer per run folder. `vae train` holds an exclusive flock(2) on "<folder>/train.lock"
// for the whole run; a second writer into the same folder gets vae::Error naming the holder's
// pid and touches nothing else. The holder removes the file as it ends (a writer that opened
// the old file meanwhile notices that it was replaced and locks the new one). The kernel drops
// the lock when the holder exits in any way (kill -9 included), so a file left by a killed run
// never blocks a later one.
//
// Readers (vae eval, info, report...) take no lock: every file a run writes is replaced
// atomically (io/fileio.h), so a reader sees a whole old file or a whole new one.
#pragma once

#include <string>

namespace vae {

/// The lock file's name inside a run folder.
inline constexpr const char* kRunLockFile = "train.lock";

class RunLock {
 public:
  RunLock() = default;
  /// Takes the lock of `dir` (which must exist) without waiting, and records this process's pid
  /// in the lock file. Throws vae::Error "<dir>: another vae train (pid N) is writing this run
  /// folder..." when another process holds it, or naming the file when it cannot be made.
  explicit RunLock(const std::string& dir);
  ~RunLock();  ///< Removes the lock file and releases the lock.
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  bool held() const { return fd_ >= 0; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace vae
