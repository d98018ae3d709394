// What every harness shares: a per-process scratch file for the readers that take a path, and a
// check that aborts (a crash libFuzzer records) when a reader's result breaks its own contract.
//
// The rule every harness follows: a vae::Error is the expected answer to bad input and is
// caught; any other exception escaping, a crash, a sanitizer report, a leak or a hang is a bug.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace vae_fuzz {

/// Aborts with the condition and the line: a reader returned something its header rules out.
#define FUZZ_CHECK(cond)                                                                        \
  ((cond) ? (void)0                                                                             \
          : (std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond), \
             std::abort()))

/// A folder made once per process, $TMPDIR (or /tmp)/vae_fuzz.<target>.<pid>, removed at normal
/// exit. A crash leaves its folder behind (fork mode crashes many times in one run), so each new
/// one first removes the folders of this target whose process is gone.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& target) {
    namespace fs = std::filesystem;
    const char* base = std::getenv("TMPDIR");
    const fs::path root = base && *base ? base : "/tmp";
    const std::string prefix = "vae_fuzz." + target + ".";
    std::error_code ec;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind(prefix, 0) != 0) continue;
      const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        std::error_code rm_ec;
        fs::remove_all(it->path(), rm_ec);
      }
    }
    path_ = (root / (prefix + std::to_string(::getpid()))).string();
    fs::remove_all(path_, ec);
    if (!fs::create_directory(path_, ec)) {
      std::fprintf(stderr, "vae_fuzz: cannot make %s (%s)\n", path_.c_str(), ec.message().c_str());
      std::abort();
    }
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Replaces the file at `path` with `size` bytes from `data` (the same name every run, so the
/// file system sees no growth however long the fuzzer runs).
inline void write_input(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(("vae_fuzz: " + path).c_str());
    std::abort();
  }
}

}  // namespace vae_fuzz
