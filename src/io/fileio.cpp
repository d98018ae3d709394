#include "vae/fileio.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vae/error.h"

namespace vae {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  fp_ = std::fopen(tmp_path_.c_str(), "wb");
  if (!fp_) throw Error(path_ + ": cannot write (" + std::strerror(errno) + ")");
}

AtomicFile::~AtomicFile() {
  if (fp_) std::fclose(fp_);
  if (!committed_) std::remove(tmp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  VAE_ASSERT(fp_ != nullptr);
  if (n && std::fwrite(data, 1, n, fp_) != n)
    throw Error(path_ + ": write failed (" + std::strerror(errno) + ")");
}

void AtomicFile::commit() {
  VAE_ASSERT(fp_ != nullptr);
  bool ok = std::fflush(fp_) == 0 && ::fsync(::fileno(fp_)) == 0;
  int err = errno;
  ok = (std::fclose(fp_) == 0) && ok;
  fp_ = nullptr;
  if (!ok) throw Error(path_ + ": write failed (" + std::strerror(err ? err : errno) + ")");
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw Error(path_ + ": cannot rename into place (" + std::strerror(errno) + ")");
  committed_ = true;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile f(path);
  f.write(bytes.data(), bytes.size());
  f.commit();
}

std::vector<unsigned char> read_file(const std::string& path) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) out.insert(out.end(), buf, buf + n);
  bool bad = std::ferror(fp);
  std::fclose(fp);
  if (bad) throw Error(path + ": read failed");
  return out;
}

}  // namespace vae
