// IDX reader (the MNIST file format), plain or gzip-compressed.
//
// IDX layout, every integer big-endian:
//   bytes 0-1   0x00 0x00
//   byte  2     type code: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
//   byte  3     number of dimensions, ndims >= 1
//   4*ndims     uint32 dimension sizes, outermost first
//   then        product(sizes) values of the type, row-major, nothing after them
//
// A file starting with the gzip magic 0x1f 0x8b is inflated in memory, whatever its name. The
// IDX header is inflated first and the payload after it, growing the buffer only as data
// actually arrive, so a header that claims gigabytes costs no more memory than the stream holds.
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "io/fileio.h"
#include "vae/dataset.h"
#include "vae/error.h"

namespace vae {
namespace {

constexpr size_t kMagicBytes = 4;

// deflate expands data by at most about 1032:1 (258-byte matches coded in 2 bits), so a gzip
// stream of C bytes cannot hold more than this many times C bytes of IDX data.
constexpr uint64_t kMaxDeflateRatio = 1032;

std::string hex(uint64_t v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

/// Bytes per value of an IDX type code, or 0 for an unknown code.
size_t type_size(uint8_t type) {
  switch (type) {
    case 0x08:
    case 0x09:
      return 1;
    case 0x0B:
      return 2;
    case 0x0C:
    case 0x0D:
      return 4;
    case 0x0E:
      return 8;
    default:
      return 0;
  }
}

const char* type_name(uint8_t type) {
  switch (type) {
    case 0x08:
      return "u8";
    case 0x09:
      return "i8";
    case 0x0B:
      return "i16";
    case 0x0C:
      return "i32";
    case 0x0D:
      return "f32";
    case 0x0E:
      return "f64";
    default:
      return "?";
  }
}

uint16_t load_be16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

uint32_t load_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint64_t load_be64(const unsigned char* p) {
  return (uint64_t{load_be32(p)} << 32) | load_be32(p + 4);
}

std::string dims_string(const std::vector<uint32_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

/// Inflates a gzip file held in memory, one read() at a time. Concatenated gzip members (what
/// `cat a.gz b.gz` makes) are read as one stream, as gzip(1) does; anything else after the last
/// member is an error, because a well-formed IDX .gz has nothing there.
class Gunzip {
 public:
  Gunzip(const MappedFile& in, const std::string& path)
      : in_(in.data()), in_size_(in.size()), path_(path) {
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) fail("cannot start gzip decoder");
  }
  ~Gunzip() { inflateEnd(&zs_); }
  Gunzip(const Gunzip&) = delete;
  Gunzip& operator=(const Gunzip&) = delete;

  /// Inflates up to n bytes into dst. Returns fewer than n only at the clean end of the last
  /// member, whose CRC and length zlib has then checked. Throws vae::Error for a truncated or
  /// corrupt stream.
  size_t read(unsigned char* dst, size_t n) {
    size_t got = 0;
    while (got < n && !done_) {
      refill();
      if (member_done_) {
        if (unconsumed() == 0) {
          done_ = true;
          break;
        }
        size_t pos = in_size_ - unconsumed();
        if (unconsumed() < 2 || in_[pos] != 0x1f || in_[pos + 1] != 0x8b)
          fail(std::to_string(unconsumed()) + " trailing bytes after the gzip stream");
        inflateReset(&zs_);
        member_done_ = false;
      }
      size_t want = std::min<size_t>(n - got, UINT_MAX);
      zs_.next_out = dst + got;
      zs_.avail_out = static_cast<uInt>(want);
      int rc = inflate(&zs_, Z_NO_FLUSH);
      got += want - zs_.avail_out;
      switch (rc) {
        case Z_OK:
          break;
        case Z_STREAM_END:
          member_done_ = true;
          break;
        case Z_BUF_ERROR:
          // No progress with room to write: zlib wants input that is not there.
          if (unconsumed() == 0) fail("truncated gzip stream");
          fail("corrupt gzip stream");
        case Z_MEM_ERROR:
          fail("out of memory while inflating");
        default:
          fail(std::string("corrupt gzip stream (") + (zs_.msg ? zs_.msg : "bad data") + ")");
      }
    }
    return got;
  }

 private:
  [[noreturn]] void fail(const std::string& what) { throw Error(path_ + ": " + what); }

  /// Compressed bytes not yet consumed by zlib.
  size_t unconsumed() const { return (in_size_ - in_pos_) + zs_.avail_in; }

  // zlib counts input in uInt, so a file over 4 GiB is handed over in slices.
  void refill() {
    if (zs_.avail_in != 0 || in_pos_ == in_size_) return;
    size_t n = std::min<size_t>(in_size_ - in_pos_, UINT_MAX);
    zs_.next_in = const_cast<Bytef*>(in_ + in_pos_);
    zs_.avail_in = static_cast<uInt>(n);
    in_pos_ += n;
  }

  z_stream zs_{};
  const unsigned char* in_;
  size_t in_size_;
  size_t in_pos_ = 0;  // bytes handed to zlib so far
  const std::string& path_;
  bool member_done_ = false, done_ = false;
};

struct IdxHeader {
  uint8_t type = 0;
  std::vector<uint32_t> dims;
  size_t count = 0;          // product(dims)
  size_t header_bytes = 0;   // 4 + 4*ndims
  size_t payload_bytes = 0;  // count * type_size(type)
};

/// Checks the 4-byte magic and returns ndims.
size_t check_magic(const unsigned char* m, const std::string& path) {
  if (m[0] != 0 || m[1] != 0)
    throw Error(path + ": bad magic " + hex(load_be32(m), 8) + " (not an IDX file)");
  if (type_size(m[2]) == 0) throw Error(path + ": unknown IDX type code " + hex(m[2], 2));
  if (m[3] == 0) throw Error(path + ": zero dimensions");
  return m[3];
}

/// Parses magic and dimension sizes from the first 4 + 4*ndims bytes of `h`, and works out
/// the payload size with every product checked for overflow.
IdxHeader parse_header(const unsigned char* h, const std::string& path) {
  IdxHeader hd;
  size_t ndims = check_magic(h, path);
  hd.type = h[2];
  hd.header_bytes = kMagicBytes + 4 * ndims;
  hd.dims.resize(ndims);
  bool has_zero = false;
  for (size_t i = 0; i < ndims; ++i) {
    hd.dims[i] = load_be32(h + kMagicBytes + 4 * i);
    has_zero = has_zero || hd.dims[i] == 0;
  }
  // A zero size makes the array empty even when the other sizes alone would overflow.
  if (has_zero) return hd;
  // The values become floats, so the product must also fit a float buffer.
  const size_t limit =
      std::numeric_limits<size_t>::max() / std::max(type_size(hd.type), sizeof(float));
  size_t count = 1;
  for (uint32_t d : hd.dims) {
    if (count > limit / d)
      throw Error(path + ": dimensions " + dims_string(hd.dims) + " overflow the address space");
    count *= d;
  }
  hd.count = count;
  hd.payload_bytes = count * type_size(hd.type);
  return hd;
}

std::string payload_need(const IdxHeader& hd) {
  return "dimensions " + dims_string(hd.dims) + " of " + type_name(hd.type) + " need " +
         std::to_string(hd.payload_bytes) + " bytes";
}

[[noreturn]] void value_error(const std::string& path, const IdxHeader& hd, size_t i,
                              const std::string& what) {
  throw Error(path + ": " + what + " at index " + std::to_string(i) + " (byte offset " +
              std::to_string(hd.header_bytes + i * type_size(hd.type)) + ")");
}

std::string float_string(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// Converts `hd.count` big-endian values at `p` to floats. Integer types convert exactly up to
/// 2^24; non-finite floats, and doubles beyond float range, are rejected because a NaN or Inf
/// in training data silently poisons every gradient it touches.
std::vector<float> convert(const unsigned char* p, const IdxHeader& hd, const std::string& path) {
  std::vector<float> out(hd.count);
  const size_t n = hd.count;
  switch (hd.type) {
    case 0x08:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
      break;
    case 0x09:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<int8_t>(p[i]));
      break;
    case 0x0B:
      for (size_t i = 0; i < n; ++i)
        out[i] = static_cast<float>(static_cast<int16_t>(load_be16(p + 2 * i)));
      break;
    case 0x0C:
      for (size_t i = 0; i < n; ++i)
        out[i] = static_cast<float>(static_cast<int32_t>(load_be32(p + 4 * i)));
      break;
    case 0x0D:
      for (size_t i = 0; i < n; ++i) {
        uint32_t bits = load_be32(p + 4 * i);
        float v;
        std::memcpy(&v, &bits, sizeof v);
        if (!std::isfinite(v)) value_error(path, hd, i, "non-finite value " + float_string(v));
        out[i] = v;
      }
      break;
    case 0x0E:
      for (size_t i = 0; i < n; ++i) {
        uint64_t bits = load_be64(p + 8 * i);
        double v;
        std::memcpy(&v, &bits, sizeof v);
        if (!std::isfinite(v)) value_error(path, hd, i, "non-finite value " + float_string(v));
        if (std::fabs(v) > std::numeric_limits<float>::max())
          value_error(path, hd, i, "value " + float_string(v) + " outside float range");
        out[i] = static_cast<float>(v);
      }
      break;
    default:
      VAE_ASSERT(false && "type checked by parse_header");
  }
  return out;
}

IdxArray finish(const unsigned char* payload, IdxHeader& hd, const std::string& path) {
  IdxArray a;
  a.values = convert(payload, hd, path);
  a.type = hd.type;
  a.dims = std::move(hd.dims);
  return a;
}

IdxArray read_plain(const MappedFile& file, const std::string& path) {
  if (file.size() < kMagicBytes)
    throw Error(path + ": too short for an IDX header (" + std::to_string(file.size()) + " bytes)");
  size_t ndims = check_magic(file.data(), path);
  if (file.size() < kMagicBytes + 4 * ndims)
    throw Error(path + ": truncated header (" + std::to_string(ndims) + " dimensions need " +
                std::to_string(kMagicBytes + 4 * ndims) + " bytes, the file has " +
                std::to_string(file.size()) + ")");
  IdxHeader hd = parse_header(file.data(), path);
  size_t present = file.size() - hd.header_bytes;
  if (present < hd.payload_bytes)
    throw Error(path + ": truncated payload (" + payload_need(hd) + ", " + std::to_string(present) +
                " follow the header)");
  if (present > hd.payload_bytes)
    throw Error(path + ": " + std::to_string(present - hd.payload_bytes) +
                " extra bytes after the data (" + payload_need(hd) + ")");
  return finish(file.data() + hd.header_bytes, hd, path);
}

IdxArray read_gzip(const MappedFile& file, const std::string& path) {
  Gunzip gz(file, path);
  // Header first: the magic says how many dimension sizes follow.
  unsigned char head[kMagicBytes + 4 * 255];
  size_t got = gz.read(head, kMagicBytes);
  if (got < kMagicBytes)
    throw Error(path + ": too short for an IDX header (" + std::to_string(got) +
                " bytes after decompression)");
  size_t ndims = check_magic(head, path);
  got += gz.read(head + kMagicBytes, 4 * ndims);
  if (got < kMagicBytes + 4 * ndims)
    throw Error(path + ": truncated header (" + std::to_string(ndims) + " dimensions need " +
                std::to_string(kMagicBytes + 4 * ndims) + " bytes, the stream holds " +
                std::to_string(got) + ")");
  IdxHeader hd = parse_header(head, path);

  // Refuse at once what the stream cannot possibly hold, before inflating anything.
  uint64_t most = kMaxDeflateRatio * static_cast<uint64_t>(file.size());
  if (hd.payload_bytes > most)
    throw Error(path + ": truncated payload (" + payload_need(hd) + ", more than the " +
                std::to_string(file.size()) + "-byte gzip file can hold)");

  // Grow the payload buffer as data arrive: the first step covers ordinary compression ratios
  // (MNIST-like images compress about 2:1), later steps double.
  std::vector<unsigned char> payload;
  size_t filled = 0;
  size_t step = std::min<size_t>(hd.payload_bytes, 4 * file.size() + (1 << 16));
  while (filled < hd.payload_bytes) {
    size_t target = std::min(hd.payload_bytes, filled + step);
    payload.resize(target);
    size_t n = gz.read(payload.data() + filled, target - filled);
    filled += n;
    if (filled < target)
      throw Error(path + ": truncated payload (" + payload_need(hd) + ", the gzip stream holds " +
                  std::to_string(filled) + " after the header)");
    step = filled;
  }
  // Reading on to the end of the stream also makes zlib check the CRC of the last member.
  // Extra data are counted up to a bound only, so a gzip bomb behind a valid header fails fast.
  constexpr size_t kCountExtraUpTo = size_t{1} << 20;
  unsigned char extra[1 << 12];
  if (size_t n = gz.read(extra, sizeof extra); n > 0) {
    size_t total = n;
    while (total <= kCountExtraUpTo && (n = gz.read(extra, sizeof extra)) > 0) total += n;
    std::string count = total > kCountExtraUpTo ? "more than " + std::to_string(kCountExtraUpTo)
                                                : std::to_string(total);
    throw Error(path + ": " + count + " extra bytes after the data (" + payload_need(hd) + ")");
  }
  return finish(payload.data(), hd, path);
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const MappedFile file(path);  // the header is checked before the payload is touched
  if (file.size() >= 2 && file.data()[0] == 0x1f && file.data()[1] == 0x8b) return read_gzip(file, path);
  return read_plain(file, path);
}

}  // namespace vae
