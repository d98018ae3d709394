// Crash-safe output files. Everything the toolkit writes (checkpoints, arrays, images, metrics
// snapshots, reports) goes through AtomicFile, which writes by what is at the path:
//   - nothing, or a regular file: bytes go to "<path>.tmp.<pid>" in the same folder, are flushed
//     and fsync'ed, and only then renamed over <path> (keeping the old file's permission bits).
//     A crash or an error at any point leaves either the old file or the new one, never half;
//   - a symbolic link: the same for the file the link ends at; the link itself stays;
//   - a character device (/dev/null, a terminal) or a FIFO, and "-" (standard output): written
//     through, never replaced. A FIFO nobody reads fails at once rather than waiting;
//   - anything else (a folder, a socket, a block device): refused with one line naming the path.
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

/// The output path that stands for standard output.
inline constexpr const char* kStandardOutput = "-";

/// Throws vae::Error "<path>: is a folder; give the name of a file to write" when `path` is
/// something AtomicFile refuses (a folder, a socket, a block device, through links). For the
/// checks a command makes before it does any work.
void check_output_target(const std::string& path);

/// The descriptor "-" writes to (default STDOUT_FILENO). A program whose own messages go to
/// standard output moves them aside (dup2) and names here where the data go instead.
void set_standard_output_fd(int fd);

class AtomicFile {
 public:
  /// Removes stale temporaries of `path` (remove_stale_temporaries), then opens its own (or the
  /// device, FIFO or standard output to write through). Throws vae::Error naming `path` when
  /// its folder is missing or not writable, or when check_output_target refuses it.
  explicit AtomicFile(std::string path);
  ~AtomicFile();  ///< Removes the temporary file unless commit() succeeded.
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::FILE* file() { return fp_; }
  /// Writes `n` bytes; throws vae::Error "<path>: write failed (<reason>); ..." on a short
  /// write (disk full, file size limit). The destination is untouched.
  void write(const void* data, size_t n);
  /// Flushes, fsyncs, closes and renames into place. Throws vae::Error on failure, in which
  /// case the destination is untouched (a device or FIFO: flushes, and throws when that fails,
  /// as on /dev/full).
  void commit();
  /// "<path>: write failed (<strerror(err)>)...", the message of a failed write, for writers
  /// that go through file() (libpng).
  std::string write_failed(int err) const;

 private:
  void open_temporary(const std::string& target);

  std::string path_;      // as given: named in messages
  std::string target_;    // the file renamed over: path_ with its links resolved
  std::string tmp_path_;  // target_ + ".tmp.<pid>"
  std::FILE* fp_ = nullptr;
  bool through_ = false;  // a device, FIFO or standard output, written in place
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

/// A file's bytes, read-only, mapped into memory (mmap) rather than copied: the readers of big
/// files (CSV, .npy, IDX, checkpoints) check a header first and touch only the bytes they use,
/// so a file with a bad header or garbage after its data costs neither time nor memory in
/// proportion to its size. What cannot be mapped (a FIFO, /proc) is read whole instead.
class MappedFile {
 public:
  /// Throws vae::Error as read_file does.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
  void* mapping_ = nullptr;                // the mmap'ed region, or null
  std::vector<unsigned char> fallback_;    // the bytes when the file could not be mapped
};

}  // namespace vae
