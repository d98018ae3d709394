// Crash-safe output files. Everything the toolkit writes (checkpoints, arrays, images, metrics
// snapshots) goes through AtomicFile: bytes go to "<path>.tmp.<pid>" in the same folder, are
// flushed and fsync'ed, and only then renamed over <path>. A crash or an error at any point
// leaves either the old file or the new one, never half of one.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace vae {

class AtomicFile {
 public:
  /// Opens the temporary file. Throws vae::Error naming `path` when its folder is missing or
  /// not writable.
  explicit AtomicFile(std::string path);
  ~AtomicFile();  ///< Removes the temporary file unless commit() succeeded.
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::FILE* file() { return fp_; }
  /// Writes `n` bytes; throws vae::Error on a short write (disk full).
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

/// Reads a whole file. Throws vae::Error "<path>: cannot open (reason)" when it cannot.
std::vector<unsigned char> read_file(const std::string& path);

}  // namespace vae
