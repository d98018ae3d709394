#include "io/fileio.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "vae/error.h"

namespace vae {

namespace {

constexpr const char* kTmpInfix = ".tmp.";

// The folder and the file name of a path ("a/b/c.png" → "a/b", "c.png"; "c.png" → ".").
std::pair<std::string, std::string> split_path(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// The pid of `file` when it is named "<name>.tmp.<pid>", else 0.
pid_t temporary_pid(const std::string& file, const std::string& name) {
  const std::string prefix = name + kTmpInfix;
  if (name.empty() || file.compare(0, prefix.size(), prefix) != 0) return 0;
  const std::string digits = file.substr(prefix.size());
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return static_cast<pid_t>(std::stol(digits));
}

// kill(pid, 0) delivers nothing; it fails with ESRCH only when no such process exists. EPERM
// (someone else's process) counts as running.
bool running(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

// VAE_TEST_SLOW_COMMIT_MS (fileio.h): the test hook's delay, 0 when unset or out of range.
int slow_commit_ms() {
  const char* v = std::getenv("VAE_TEST_SLOW_COMMIT_MS");
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long ms = std::strtol(v, &end, 10);
  return *end == '\0' && ms > 0 && ms <= 10000 ? static_cast<int>(ms) : 0;
}

}  // namespace

size_t remove_stale_temporaries(const std::string& dir, const std::string& name) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  size_t removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const pid_t pid = temporary_pid(e->d_name, name);
    if (pid <= 0 || pid == ::getpid() || running(pid)) continue;
    if (std::remove((dir + "/" + e->d_name).c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

std::optional<uint64_t> free_bytes(const std::string& dir) {
  struct statvfs s;
  if (::statvfs(dir.c_str(), &s) != 0 || s.f_frsize == 0) return std::nullopt;
  return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
}

namespace {

// What lies at `path`, following symbolic links (stat): decides how it is written.
enum class Target { Missing, Regular, Through, Refused };

Target target_of(const std::string& path, std::string* refused_as) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Target::Missing;
  if (S_ISREG(st.st_mode)) return Target::Regular;
  if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) return Target::Through;
  *refused_as = S_ISDIR(st.st_mode)   ? "a folder"
                : S_ISSOCK(st.st_mode) ? "a socket"
                : S_ISBLK(st.st_mode)  ? "a block device"
                                       : "not a regular file";
  return Target::Refused;
}

// The file a chain of symbolic links ends at ("link" → "dir/target"), the path itself when it
// is no link. A link may point at a file that does not exist yet: that name is returned.
std::string resolve_links(std::string path) {
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
    std::string target(PATH_MAX, '\0');
    const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) throw Error(path + ": cannot read the link (" + std::strerror(errno) + ")");
    target.resize(static_cast<size_t>(n));
    path = target[0] == '/' ? target : split_path(path).first + "/" + target;
  }
  throw Error(path + ": too many levels of symbolic links");
}

// Opens a character device or FIFO for writing through. A FIFO is opened without blocking, so
// that one nobody reads fails at once (ENXIO) instead of waiting for a reader forever.
std::FILE* open_through(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    throw Error(path + ": cannot write (" +
                (errno == ENXIO ? std::string("no process is reading it") : std::strerror(errno)) +
                ")");
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::FILE* fp = ::fdopen(fd, "wb");
  if (!fp) ::close(fd);
  return fp;
}

}  // namespace

namespace {
int standard_output_fd = STDOUT_FILENO;
}  // namespace

void set_standard_output_fd(int fd) { standard_output_fd = fd; }

void check_output_target(const std::string& path) {
  if (path == kStandardOutput) return;
  std::string refused_as;
  if (target_of(path, &refused_as) == Target::Refused)
    throw Error(path + ": is " + refused_as + "; give the name of a file to write");
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_ == kStandardOutput) {
    std::fflush(stdout);
    fp_ = ::fdopen(::dup(standard_output_fd), "wb");
    through_ = true;
  } else {
    check_output_target(path_);
    std::string unused;
    through_ = target_of(path_, &unused) == Target::Through;
    if (through_) fp_ = open_through(path_);
  }
  if (through_) {
    if (!fp_) throw Error(path_ + ": cannot write (" + std::strerror(errno) + ")");
    return;
  }
  open_temporary(resolve_links(path_));
}

// The file written in place of `target`, renamed over it by commit(); it keeps the permission
// bits of the file it replaces.
void AtomicFile::open_temporary(const std::string& target) {
  target_ = target;
  const auto [dir, name] = split_path(target_);
  remove_stale_temporaries(dir, name);
  tmp_path_ = target_ + kTmpInfix + std::to_string(::getpid());
  fp_ = std::fopen(tmp_path_.c_str(), "wb");
  if (!fp_) throw Error(path_ + ": cannot write (" + std::strerror(errno) + ")");
  struct stat st;
  if (::stat(target_.c_str(), &st) == 0) ::fchmod(::fileno(fp_), st.st_mode & 07777);
}

AtomicFile::~AtomicFile() {
  if (fp_) std::fclose(fp_);
  if (!committed_ && !through_) std::remove(tmp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  VAE_ASSERT(fp_ != nullptr);
  if (n && std::fwrite(data, 1, n, fp_) != n) throw Error(write_failed(errno));
}

std::string AtomicFile::write_failed(int err) const {
  return path_ + ": write failed (" + std::strerror(err) + ")" +
         (through_ ? "" : "; the file was left as it was");
}

void AtomicFile::commit() {
  VAE_ASSERT(fp_ != nullptr);
  if (const int ms = slow_commit_ms()) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  errno = 0;
  // A device or FIFO is flushed, not synced (fsync means nothing there).
  bool ok = std::fflush(fp_) == 0 && (through_ || ::fsync(::fileno(fp_)) == 0);
  int err = errno;
  ok = (std::fclose(fp_) == 0) && ok;
  fp_ = nullptr;
  if (!ok) throw Error(write_failed(err ? err : errno));
  if (through_) {
    committed_ = true;
    return;
  }
  if (std::rename(tmp_path_.c_str(), target_.c_str()) != 0)
    throw Error(path_ + ": cannot rename into place (" + std::strerror(errno) + ")");
  committed_ = true;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

MappedFile::MappedFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a folder, not a file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      mapping_ = m;
      data_ = static_cast<const unsigned char*>(m);
      size_ = static_cast<size_t>(st.st_size);
    }
  }
  ::close(fd);
  if (mapping_) return;
  fallback_ = read_file(path);
  data_ = fallback_.data();
  size_ = fallback_.size();
}

MappedFile::~MappedFile() {
  if (mapping_) ::munmap(mapping_, size_);
}

std::vector<unsigned char> read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a folder, not a file");
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) out.insert(out.end(), buf, buf + n);
  const bool bad = std::ferror(fp);
  const int err = errno;
  std::fclose(fp);
  if (bad) throw Error(path + ": read failed (" + std::strerror(err) + ")");
  return out;
}

}  // namespace vae
