// read_idx: values and dimensions of small generated IDX files, plain and gzip, and one
// vae::Error naming the file for each kind of damage.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "test_util.h"
#include "vae/dataset.h"
#include "vae/error.h"

namespace {

using vae_test::TempDir;
using vae_test::write_bytes;

void put_be32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xFF));
}

/// IDX header (magic for `type`, then the sizes) followed by `payload` as given.
std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string s = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) put_be32(s, d);
  return s + payload;
}

std::string u8_payload(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s.push_back(static_cast<char>(x));
  return s;
}

/// One gzip member holding `data` (deflate with the gzip wrapper, windowBits 16 + 15).
std::string gzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(
      deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
      Z_OK);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

/// Runs `f`, expecting a vae::Error whose message starts with "<path>: " and contains `what`.
void expect_error(const std::function<void()>& f, const std::string& path,
                  const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no vae::Error for " << path << " (expected \"" << what << "\")";
  } catch (const vae::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  }
}

void expect_idx_error(const std::string& path, const std::string& what) {
  expect_error([&] { vae::read_idx(path); }, path, what);
}

const std::string kSmallU8 =
    idx_bytes(0x08, {2, 2, 3}, u8_payload({0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}));

TEST(ReadIdx, PlainU8ValuesAndDims) {
  TempDir dir;
  std::string path = dir.file("a-idx3-ubyte");
  write_bytes(path, kSmallU8);
  vae::IdxArray a = vae::read_idx(path);
  EXPECT_EQ(a.type, 0x08);
  EXPECT_EQ(a.dims, (std::vector<uint32_t>{2, 2, 3}));
  EXPECT_EQ(a.values, (std::vector<float>{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}));
}

TEST(ReadIdx, GzipDetectedByMagicWhateverTheName) {
  TempDir dir;
  for (const char* name : {"a-idx3-ubyte.gz", "no-suffix"}) {
    std::string path = dir.file(name);
    write_bytes(path, gzip(kSmallU8));
    vae::IdxArray a = vae::read_idx(path);
    EXPECT_EQ(a.type, 0x08) << name;
    EXPECT_EQ(a.dims, (std::vector<uint32_t>{2, 2, 3})) << name;
    EXPECT_EQ(a.values, (std::vector<float>{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}));
  }
}

TEST(ReadIdx, ConcatenatedGzipMembersAreOneStream) {
  TempDir dir;
  std::string path = dir.file("cat.gz");
  write_bytes(path, gzip(kSmallU8.substr(0, 7)) + gzip(kSmallU8.substr(7)));
  EXPECT_EQ(vae::read_idx(path).values.size(), 12u);
}

TEST(ReadIdx, LargeArrayPlainAndGzipAgree) {
  TempDir dir;
  std::string path = dir.file("large-idx1-ubyte");
  // 1 MiB of u8 values: bigger than any read buffer, so slicing and growth are exercised.
  std::string payload;
  for (int i = 0; i < (1 << 20); ++i) payload.push_back(static_cast<char>(i * 7 % 256));
  write_bytes(path, idx_bytes(0x08, {1u << 20}, payload));
  write_bytes(path + ".gz", gzip(idx_bytes(0x08, {1u << 20}, payload)));
  vae::IdxArray plain = vae::read_idx(path);
  vae::IdxArray packed = vae::read_idx(path + ".gz");
  ASSERT_EQ(plain.values.size(), size_t{1} << 20);
  EXPECT_EQ(plain.values, packed.values);
  EXPECT_EQ(plain.values[12345], static_cast<float>(12345 * 7 % 256));
}

TEST(ReadIdx, SignedAndFloatTypesAreBigEndian) {
  TempDir dir;
  struct Case {
    uint8_t type;
    std::string payload;
    std::vector<float> want;
  };
  std::string f32, f64;
  for (float v : {1.5f, -0.25f}) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    put_be32(f32, bits);
  }
  for (double v : {3.0, -1e-3}) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    put_be32(f64, static_cast<uint32_t>(bits >> 32));
    put_be32(f64, static_cast<uint32_t>(bits));
  }
  std::string i32;
  put_be32(i32, 0xFFFFFFFE);  // -2
  put_be32(i32, 70000);
  std::vector<Case> cases = {
      {0x09, u8_payload({0x80, 0xFF}), {-128, -1}},
      {0x0B, u8_payload({0xFF, 0xFE, 0x01, 0x00}), {-2, 256}},
      {0x0C, i32, {-2, 70000}},
      {0x0D, f32, {1.5f, -0.25f}},
      {0x0E, f64, {3.0f, -1e-3f}},
  };
  for (const Case& c : cases) {
    std::string path = dir.file("t" + std::to_string(c.type));
    write_bytes(path, idx_bytes(c.type, {2}, c.payload));
    vae::IdxArray a = vae::read_idx(path);
    EXPECT_EQ(a.type, c.type);
    EXPECT_EQ(a.dims, std::vector<uint32_t>{2});
    EXPECT_EQ(a.values, c.want) << "type " << int(c.type);
  }
}

TEST(ReadIdx, EmptyDimensionGivesNoValues) {
  TempDir dir;
  std::string path = dir.file("empty");
  // A zero size empties the array even though the other sizes alone would overflow.
  write_bytes(path, idx_bytes(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0}, ""));
  vae::IdxArray a = vae::read_idx(path);
  EXPECT_EQ(a.dims.size(), 3u);
  EXPECT_TRUE(a.values.empty());
}

TEST(ReadIdxErrors, MissingFile) {
  TempDir dir;
  expect_idx_error(dir.file("nope-idx3-ubyte"), "cannot open");
}

TEST(ReadIdxErrors, BadMagic) {
  TempDir dir;
  std::string path = dir.file("bad");
  write_bytes(path, "PK\x03\x04 not an idx file");
  expect_idx_error(path, "bad magic 0x504b0304 (not an IDX file)");
}

TEST(ReadIdxErrors, UnknownTypeCode) {
  TempDir dir;
  std::string path = dir.file("type");
  write_bytes(path, idx_bytes(0x0A, {1}, "x"));
  expect_idx_error(path, "unknown IDX type code 0x0a");
}

TEST(ReadIdxErrors, ZeroDimensions) {
  TempDir dir;
  std::string path = dir.file("zero");
  write_bytes(path, idx_bytes(0x08, {}, "x"));
  expect_idx_error(path, "zero dimensions");
}

TEST(ReadIdxErrors, TooShortForHeader) {
  TempDir dir;
  std::string path = dir.file("short");
  write_bytes(path, std::string("\0\0", 2));
  expect_idx_error(path, "too short for an IDX header");
  write_bytes(path, idx_bytes(0x08, {3, 4}, "").substr(0, 9));
  expect_idx_error(path, "truncated header");
}

TEST(ReadIdxErrors, TruncatedPayload) {
  TempDir dir;
  std::string path = dir.file("trunc");
  write_bytes(path, kSmallU8.substr(0, kSmallU8.size() - 1));
  expect_idx_error(path, "truncated payload");
  // The same inside a well-formed gzip stream.
  write_bytes(path, gzip(kSmallU8.substr(0, kSmallU8.size() - 1)));
  expect_idx_error(path, "truncated payload");
}

TEST(ReadIdxErrors, ExtraTrailingBytes) {
  TempDir dir;
  std::string path = dir.file("extra");
  write_bytes(path, kSmallU8 + "xyz");
  expect_idx_error(path, "3 extra bytes after the data");
  write_bytes(path, gzip(kSmallU8 + "xyz"));
  expect_idx_error(path, "3 extra bytes after the data");
}

TEST(ReadIdxErrors, TruncatedGzip) {
  TempDir dir;
  std::string path = dir.file("half.gz");
  std::string payload;
  for (int i = 0; i < 5000; ++i) payload.push_back(static_cast<char>((i * i) % 251));
  std::string gz = gzip(idx_bytes(0x08, {50, 100}, payload));
  write_bytes(path, gz.substr(0, gz.size() / 2));
  expect_idx_error(path, "truncated gzip stream");
  // Losing only the 8-byte trailer (CRC and length) is a truncation as well.
  write_bytes(path, gz.substr(0, gz.size() - 4));
  expect_idx_error(path, "truncated gzip stream");
}

TEST(ReadIdxErrors, CorruptGzip) {
  TempDir dir;
  std::string path = dir.file("corrupt.gz");
  std::string gz = gzip(kSmallU8);
  gz[gz.size() - 6] ^= 0x55;  // inside the CRC-32 of the trailer
  write_bytes(path, gz);
  expect_idx_error(path, "corrupt gzip stream");
}

TEST(ReadIdxErrors, GarbageAfterGzipStream) {
  TempDir dir;
  std::string path = dir.file("garbage.gz");
  write_bytes(path, gzip(kSmallU8) + "junk");
  expect_idx_error(path, "4 trailing bytes after the gzip stream");
}

TEST(ReadIdxErrors, HugeClaimedDimensionsOverflow) {
  TempDir dir;
  std::string path = dir.file("overflow");
  write_bytes(path, idx_bytes(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, "abcd"));
  expect_idx_error(path, "overflow");
}

TEST(ReadIdxErrors, HugeClaimedPayloadIsNotAllocated) {
  TempDir dir;
  // 60000 x 1000 x 1000 f64 = 480 GB claimed; the files hold a few bytes. An attempt to
  // allocate what the header claims would abort the test with std::bad_alloc.
  std::string bytes = idx_bytes(0x0E, {60000, 1000, 1000}, "abcdefgh");
  std::string path = dir.file("huge");
  write_bytes(path, bytes);
  expect_idx_error(path, "truncated payload");
  write_bytes(path + ".gz", gzip(bytes));
  expect_idx_error(path + ".gz", "truncated payload");
  // A claim within what the gzip ratio bound allows still only grows as data arrive: 1 GiB
  // claimed, 1 MiB of incompressible bytes present.
  std::string noise(1 << 20, '\0');
  uint32_t state = 12345;
  for (char& c : noise) c = static_cast<char>((state = state * 1664525u + 1013904223u) >> 24);
  write_bytes(path + ".gz", gzip(idx_bytes(0x08, {1u << 30}, noise)));
  expect_idx_error(path + ".gz", "the gzip stream holds 1048576 after the header");
}

TEST(ReadIdxErrors, NonFiniteFloat) {
  TempDir dir;
  std::string path = dir.file("nan-idx1-float");
  std::string payload;
  for (float v : {0.5f, 0.25f, std::numeric_limits<float>::quiet_NaN()}) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    put_be32(payload, bits);
  }
  write_bytes(path, idx_bytes(0x0D, {3}, payload));
  // Index 2 of 4-byte values after an 8-byte header: byte offset 16.
  expect_idx_error(path, "non-finite value nan at index 2 (byte offset 16)");
  write_bytes(path, gzip(idx_bytes(0x0D, {3}, payload)));
  expect_idx_error(path, "non-finite value nan at index 2");
}

TEST(ReadIdxErrors, DoubleOutsideFloatRangeOrInfinite) {
  TempDir dir;
  std::string path = dir.file("f64");
  for (double v : {1e300, -std::numeric_limits<double>::infinity()}) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    std::string payload;
    put_be32(payload, static_cast<uint32_t>(bits >> 32));
    put_be32(payload, static_cast<uint32_t>(bits));
    write_bytes(path, idx_bytes(0x0E, {1}, payload));
    expect_idx_error(path,
                     std::isinf(v) ? "non-finite value -inf at index 0" : "outside float range");
  }
}

}  // namespace
