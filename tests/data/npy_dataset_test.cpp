// read_npy_dataset: how each array shape becomes a table or images, values kept as stored
// for each dtype, and a vae::Error naming the file for shapes that are not data sets and for
// non-finite values. The .npy bytes are built here, so dtypes other than '<f4' need no NumPy.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"
#include "vae/error.h"
#include "vae/npy.h"
#include "vae/readers.h"

namespace {

using vae_test::TempDir;
using vae_test::write_bytes;

// A version 1.0 .npy file: magic, version, header length, the dict padded with spaces to a
// 64-byte boundary and ended by '\n', then `payload` as given.
std::string npy_bytes(const std::string& descr, const std::string& shape,
                      const std::string& payload) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t prefix = 10;
  const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string s("\x93NUMPY\x01\x00", 8);
  s += static_cast<char>(dict.size() & 0xFF);
  s += static_cast<char>(dict.size() >> 8);
  return s + dict + payload;
}

template <typename T>
std::string raw(const std::vector<T>& values) {
  std::string s(values.size() * sizeof(T), '\0');
  std::memcpy(s.data(), values.data(), s.size());  // the test host is little-endian, as .npy
  return s;
}

std::string error_of(const std::string& path) {
  try {
    vae::read_npy_dataset(path);
  } catch (const vae::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReadNpyDataset, Float32TableFromWriteNpy) {
  TempDir dir;
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  vae::write_npy(dir.file("a.npy"), values.data(), {2, 3});
  const vae::Dataset ds = vae::read_npy_dataset(dir.file("a.npy"));
  EXPECT_EQ(ds.n, 2u);
  EXPECT_EQ(ds.d, 3u);
  EXPECT_EQ(ds.x, values);
  EXPECT_EQ(ds.height, 0);
  EXPECT_EQ(ds.width, 0);
  EXPECT_EQ(ds.channels, 0);
  EXPECT_TRUE(ds.labels.empty());
}

TEST(ReadNpyDataset, Float64AndUint8ValuesAsStored) {
  TempDir dir;
  write_bytes(dir.file("f8.npy"), npy_bytes("<f8", "(2, 2)", raw<double>({0.5, -1, 1e30, 2})));
  vae::Dataset ds = vae::read_npy_dataset(dir.file("f8.npy"));
  EXPECT_EQ(ds.x, (std::vector<float>{0.5f, -1, 1e30f, 2}));

  // uint8 stays 0..255: scaling is the caller's business.
  write_bytes(dir.file("u1.npy"), npy_bytes("|u1", "(3, 1)", raw<uint8_t>({0, 128, 255})));
  ds = vae::read_npy_dataset(dir.file("u1.npy"));
  EXPECT_EQ(ds.n, 3u);
  EXPECT_EQ(ds.d, 1u);
  EXPECT_EQ(ds.x, (std::vector<float>{0, 128, 255}));
}

TEST(ReadNpyDataset, ThreeAxesAreGreyImages) {
  TempDir dir;
  std::vector<uint8_t> pixels(2 * 3 * 4);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i);
  write_bytes(dir.file("g.npy"), npy_bytes("|u1", "(2, 3, 4)", raw(pixels)));
  const vae::Dataset ds = vae::read_npy_dataset(dir.file("g.npy"));
  EXPECT_EQ(ds.n, 2u);
  EXPECT_EQ(ds.d, 12u);
  EXPECT_EQ(ds.height, 3);
  EXPECT_EQ(ds.width, 4);
  EXPECT_EQ(ds.channels, 1);
  EXPECT_EQ(ds.x[13], 13.f);
}

TEST(ReadNpyDataset, FourAxesAreImagesWithChannelsLast) {
  TempDir dir;
  for (int c : {1, 3, 4}) {
    const std::vector<float> values(static_cast<size_t>(5 * 2 * 3 * c), 0.25f);
    vae::write_npy(dir.file("c.npy"), values.data(), {5, 2, 3, c});
    const vae::Dataset ds = vae::read_npy_dataset(dir.file("c.npy"));
    EXPECT_EQ(ds.n, 5u);
    EXPECT_EQ(ds.d, static_cast<size_t>(6 * c));
    EXPECT_EQ(ds.height, 2);
    EXPECT_EQ(ds.width, 3);
    EXPECT_EQ(ds.channels, c);
  }
}

TEST(ReadNpyDatasetErrors, ShapesThatAreNotDataSets) {
  TempDir dir;
  const std::string p = dir.file("s.npy");
  const std::vector<float> v(64, 1.f);
  vae::write_npy(p, v.data(), {8});
  EXPECT_EQ(error_of(p), p + ": shape (8,) is not (N, D), (N, H, W) or (N, H, W, C); the first "
                             "axis must count examples");
  vae::write_npy(p, v.data(), {2, 2, 2, 2, 2});
  EXPECT_EQ(error_of(p), p + ": shape (2, 2, 2, 2, 2) is not (N, D), (N, H, W) or (N, H, W, C); "
                             "the first axis must count examples");
  vae::write_npy(p, v.data(), {});
  EXPECT_EQ(error_of(p), p + ": shape () is not (N, D), (N, H, W) or (N, H, W, C); the first "
                             "axis must count examples");
  vae::write_npy(p, v.data(), {2, 4, 4, 2});
  EXPECT_EQ(error_of(p),
            p + ": shape (2, 4, 4, 2) has 2 channels on its last axis; images need 1, 3 or 4");
  vae::write_npy(p, v.data(), {0, 784});
  EXPECT_EQ(error_of(p), p + ": shape (0, 784) holds no values");
  vae::write_npy(p, v.data(), {3, 0});
  EXPECT_EQ(error_of(p), p + ": shape (3, 0) holds no values");
}

TEST(ReadNpyDatasetErrors, NonFiniteValuesNameTheFlatIndex) {
  TempDir dir;
  const std::string p = dir.file("n.npy");
  std::vector<float> v(6, 1.f);
  v[4] = std::numeric_limits<float>::quiet_NaN();
  vae::write_npy(p, v.data(), {3, 2});
  EXPECT_EQ(error_of(p), p + ": value at flat index 4 (example 2) is NaN; values must be finite");
  v[4] = 1.f;
  v[1] = -std::numeric_limits<float>::infinity();
  vae::write_npy(p, v.data(), {3, 2});
  EXPECT_EQ(error_of(p), p + ": value at flat index 1 (example 0) is infinite or beyond the "
                             "float range; values must be finite");
  // A finite double that float cannot hold.
  write_bytes(p, npy_bytes("<f8", "(1, 2)", raw<double>({1, 1e300})));
  EXPECT_EQ(error_of(p), p + ": value at flat index 1 (example 0) is infinite or beyond the "
                             "float range; values must be finite");
}

TEST(ReadNpyDatasetErrors, FileErrorsComeFromReadNpy) {
  TempDir dir;
  const std::string p = dir.file("bad.npy");
  write_bytes(p, "not numpy at all");
  EXPECT_EQ(error_of(p), p + ": not a .npy file (bad magic)");
  EXPECT_EQ(error_of(dir.file("absent.npy")).rfind(dir.file("absent.npy") + ": cannot open", 0),
            0u);
}

}  // namespace
