// Helpers shared by the end-to-end tests of the `vae` command (tests/cli/*_test.cpp): running the
// built binary (VAE_BINARY) as a subprocess with its stdout and stderr captured, checking that a
// failed run failed cleanly, and writing a tiny generated MNIST-format data set (6x6 images in
// four classes, 64 train and 16 test examples) as plain or gzip-compressed IDX files.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "io/png.h"
#include "test_util.h"

extern char** environ;

namespace vae_cli_test {

// ---------------------------------------------------------------------------------------------
// Running the command

struct RunResult {
  int code = -1;    ///< exit status, or 128 + signal number when the process was killed
  std::string out;  ///< everything written to stdout
  std::string err;  ///< everything written to stderr
};

/// Starts `binary args...` with `extra_env` ("NAME=value") added to this process's environment,
/// stdin from /dev/null and stdout and stderr to the given files. Returns its pid, or -1 (with a
/// test failure) when it cannot start.
inline pid_t spawn_binary(const std::string& binary, const std::vector<std::string>& args,
                          const std::vector<std::string>& extra_env, const std::string& out_path,
                          const std::string& err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // extra_env replaces a variable of the same name (getenv would find the first of two).
  auto overridden = [&](const char* e) {
    for (const std::string& x : extra_env) {
      const size_t eq = x.find('=');
      if (std::strncmp(e, x.c_str(), eq + 1) == 0) return true;
    }
    return false;
  };
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    if (!overridden(*e)) envp.push_back(*e);
  for (const std::string& e : extra_env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << binary << ": " << std::strerror(rc);
    return -1;
  }
  return pid;
}

/// Runs `binary args...` (with `extra_env` added to the environment) with stdin from /dev/null and stdout and stderr each sent to its own
/// file (files, not pipes, so neither stream can fill up and stall the child, and neither is a
/// terminal: the command must print plain lines).
inline RunResult run_binary(const std::string& binary, const std::vector<std::string>& args,
                            const std::vector<std::string>& extra_env = {}) {
  vae_test::TempDir capture;
  const std::string out_path = capture.file("stdout"), err_path = capture.file("stderr");
  RunResult r;
  const pid_t pid = spawn_binary(binary, args, extra_env, out_path, err_path);
  if (pid < 0) return r;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = vae_test::read_bytes(out_path);
  r.err = vae_test::read_bytes(err_path);
  return r;
}

/// Runs the `vae` binary under test (VAE_BINARY, defined for the test target by CMake).
inline RunResult vae_run(const std::vector<std::string>& args,
                         const std::vector<std::string>& extra_env = {}) {
  return run_binary(VAE_BINARY, args, extra_env);
}

/// "vae train ... (exit 1)\n--- stdout ---\n...\n--- stderr ---\n..." for failure messages.
inline std::string describe(const std::vector<std::string>& args, const RunResult& r) {
  std::string s = "vae";
  for (const std::string& a : args) s += " " + a;
  return s + "  (exit " + std::to_string(r.code) + ")\n--- stdout ---\n" + r.out +
         "--- stderr ---\n" + r.err;
}

inline size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

inline std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

/// Every file under `dir` whose name holds ".tmp." (what AtomicFile leaves if it is not cleaned).
inline std::vector<std::string> temp_files_under(const std::string& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return found;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.path().filename().string().find(".tmp.") != std::string::npos)
      found.push_back(e.path().string());
  return found;
}

/// The contract for a failed run: the expected exit code, exactly one line on stderr that names
/// `names` (the file or option at fault), nothing on stdout, none of `outputs` on disk and no
/// temporary file left under `scratch`.
inline void expect_clean_failure(const std::vector<std::string>& args, int code,
                                 const std::string& names, const std::vector<std::string>& outputs,
                                 const std::string& scratch) {
  const RunResult r = vae_run(args);
  const std::string what = describe(args, r);
  EXPECT_EQ(r.code, code) << what;
  EXPECT_EQ(count_lines(r.err), 1u) << what;
  EXPECT_TRUE(!r.err.empty() && r.err.back() == '\n') << what;
  EXPECT_NE(r.err.find(names), std::string::npos) << "stderr should name '" << names << "'\n"
                                                  << what;
  EXPECT_EQ(r.out, "") << what;
  for (const std::string& o : outputs)
    EXPECT_FALSE(vae_test::exists(o)) << o << " was created\n" << what;
  EXPECT_EQ(temp_files_under(scratch), std::vector<std::string>{}) << what;
}

// ---------------------------------------------------------------------------------------------
// A tiny MNIST-format data set

constexpr int kSide = 6;                  // images are kSide x kSide
constexpr int kTrainN = 64, kTestN = 16;  // N of each split

inline void put_be32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xFF));
}

/// An IDX file: magic (0, 0, type, ndims), big-endian sizes, then `payload` as given.
inline std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims,
                             const std::string& payload) {
  std::string s = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) put_be32(s, d);
  return s + payload;
}

/// n u8 images in four classes a model can tell apart (a bright top, bottom, left or right
/// half), each with its own brightness and a little deterministic noise. offset shifts the
/// noise so that the test split is not a copy of the train split.
inline std::string image_payload(int n, int offset) {
  std::string s;
  uint32_t lcg = 12345u + static_cast<uint32_t>(offset);
  for (int i = 0; i < n; ++i) {
    const int cls = i % 4;
    const int bright = 180 + (i * 7 + offset) % 70;
    for (int y = 0; y < kSide; ++y)
      for (int x = 0; x < kSide; ++x) {
        const bool on = (cls == 0 && y < kSide / 2) || (cls == 1 && y >= kSide / 2) ||
                        (cls == 2 && x < kSide / 2) || (cls == 3 && x >= kSide / 2);
        lcg = lcg * 1664525u + 1013904223u;
        const int noise = static_cast<int>(lcg >> 28);  // 0..15
        s.push_back(static_cast<char>(on ? bright - noise : noise));
      }
  }
  return s;
}

inline std::string label_payload(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(i % 4));
  return s;
}

inline std::string train_images() {
  return idx_bytes(0x08, {kTrainN, kSide, kSide}, image_payload(kTrainN, 0));
}
inline std::string train_labels() { return idx_bytes(0x08, {kTrainN}, label_payload(kTrainN)); }
inline std::string test_images() {
  return idx_bytes(0x08, {kTestN, kSide, kSide}, image_payload(kTestN, 1));
}
inline std::string test_labels() { return idx_bytes(0x08, {kTestN}, label_payload(kTestN)); }

/// Writes the four plain IDX files into `dir` (created if needed) and returns `dir`.
inline std::string write_data(const std::string& dir) {
  std::filesystem::create_directories(dir);
  vae_test::write_bytes(dir + "/train-images-idx3-ubyte", train_images());
  vae_test::write_bytes(dir + "/train-labels-idx1-ubyte", train_labels());
  vae_test::write_bytes(dir + "/t10k-images-idx3-ubyte", test_images());
  vae_test::write_bytes(dir + "/t10k-labels-idx1-ubyte", test_labels());
  return dir;
}

/// Writes `bytes` gzip-compressed to `path` through zlib's gzopen, as gzip(1) would.
inline void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb9");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

/// The four files as .gz only (no plain copy beside them, which would win).
inline std::string write_gz_data(const std::string& dir) {
  std::filesystem::create_directories(dir);
  write_gz(dir + "/train-images-idx3-ubyte.gz", train_images());
  write_gz(dir + "/train-labels-idx1-ubyte.gz", train_labels());
  write_gz(dir + "/t10k-images-idx3-ubyte.gz", test_images());
  write_gz(dir + "/t10k-labels-idx1-ubyte.gz", test_labels());
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Checking the pictures a command writes

/// The variance of every channel value of `img` taken together: 0 for a blank picture.
inline double pixel_variance(const vae::Image& img) {
  double sum = 0, sq = 0;
  for (uint8_t p : img.pixels) {
    sum += p;
    sq += static_cast<double>(p) * p;
  }
  const double n = static_cast<double>(img.pixels.size());
  return n > 0 ? sq / n - (sum / n) * (sum / n) : 0;
}

}  // namespace vae_cli_test
