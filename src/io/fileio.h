// Crash-safe output files. Everything the toolkit writes (checkpoints, arrays, images, metrics
// snapshots) goes through AtomicFile: bytes go to "<path>.tmp.<pid>" in the same folder, are
// flushed and fsync'ed, and only then renamed over <path>. A crash or an error at any point
// leaves either the old file or the new one, never half of one.
//
// A process killed mid-write (SIGKILL, OOM killer, power loss) cannot remove its temporary. So
// that such files do not pile up, every AtomicFile first removes the temporaries of its own
// <path> whose pid is no longer running, and vae::train removes those of its checkpoints and
// metrics at start (remove_stale_temporaries). A killed writer's temporary therefore lasts only
// until the next run writes that file (or, for a run folder, until the next run starts).
//
// Test hook: with the environment variable VAE_TEST_SLOW_COMMIT_MS=N (0 < N <= 10000) every
// commit() sleeps N milliseconds after the bytes are written and before they are flushed and
// renamed, so that a crash test (tests/cli/crash_cli_test.cpp) can see the temporary and kill
// the process in the middle of a checkpoint write. Unset, nothing changes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace vae {

class AtomicFile {
 public:
  /// Removes stale temporaries of `path` (remove_stale_temporaries), then opens its own.
  /// Throws vae::Error naming `path` when its folder is missing or not writable.
  explicit AtomicFile(std::string path);
  ~AtomicFile();  ///< Removes the temporary file unless commit() succeeded.
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::FILE* file() { return fp_; }
  /// Writes `n` bytes; throws vae::Error "<path>: write failed (<reason>); ..." on a short
  /// write (disk full, file size limit). The destination is untouched.
  void write(const void* data, size_t n);
  /// Flushes, fsyncs, closes and renames into place. Throws vae::Error on failure, in which
  /// case the destination is untouched.
  void commit();

 private:
  std::string path_, tmp_path_;
  std::FILE* fp_ = nullptr;
  bool committed_ = false;
};

/// Writes `bytes` to `path` atomically (AtomicFile in one call).
void write_file_atomic(const std::string& path, const std::string& bytes);

/// Removes the temporaries that killed AtomicFile writers of `dir`/`name` left: files named
/// "<name>.tmp.<pid>" in `dir` whose pid is not a running process. Those of running processes,
/// this one included, are left alone. Pids are those of this machine (this pid namespace): a
/// folder written at the same time from another machine or container is not supported. Never
/// throws; returns how many files it removed.
size_t remove_stale_temporaries(const std::string& dir, const std::string& name);

/// Bytes an unprivileged process may still write on the file system that holds `dir`
/// (statvfs: f_bavail · f_frsize), or nullopt when that cannot be known.
std::optional<uint64_t> free_bytes(const std::string& dir);

/// Reads a whole file. Throws vae::Error "<path>: cannot open (reason)" when it cannot.
std::vector<unsigned char> read_file(const std::string& path);

}  // namespace vae
