// load_data: generated folders of MNIST-named IDX files (plain, gzip, mixed), the
// "fashion-mnist" name and $FASHION_MNIST_DIR, each way a folder can be wrong, and the real
// Debian data when installed.
#include "vae/dataset.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>

#include "test_util.h"
#include "vae/error.h"

namespace {

using vae_test::TempDir;
using vae_test::write_bytes;

const char* kTrainImages = "train-images-idx3-ubyte";
const char* kTrainLabels = "train-labels-idx1-ubyte";
const char* kTestImages = "t10k-images-idx3-ubyte";
const char* kTestLabels = "t10k-labels-idx1-ubyte";

void put_be32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xFF));
}

std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& payload) {
  std::string s = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) put_be32(s, d);
  return s + payload;
}

/// One gzip member holding `data`.
std::string gzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(
      deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
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

/// (n, h, w) u8 images whose pixel j of image i is (i * 31 + j * 7) % 256.
std::string images_u8(uint32_t n, uint32_t h, uint32_t w) {
  std::string p;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = 0; j < h * w; ++j) p.push_back(static_cast<char>((i * 31 + j * 7) % 256));
  return idx_bytes(0x08, {n, h, w}, p);
}

std::string labels_u8(uint32_t n) {
  std::string p;
  for (uint32_t i = 0; i < n; ++i) p.push_back(static_cast<char>(i % 10));
  return idx_bytes(0x08, {n}, p);
}

std::string images_f32(const std::vector<float>& v, uint32_t h, uint32_t w) {
  std::string p;
  for (float x : v) {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    put_be32(p, bits);
  }
  return idx_bytes(0x0D, {static_cast<uint32_t>(v.size() / (h * w)), h, w}, p);
}

/// Writes `bytes` to folder/name, gzip-compressed under name.gz when `gz`.
void put(const TempDir& dir, const std::string& name, const std::string& bytes, bool gz = false) {
  write_bytes(dir.file(gz ? name + ".gz" : name), gz ? gzip(bytes) : bytes);
}

/// A valid folder: 5 training and 3 test images of 4x3.
void write_folder(const TempDir& dir, bool gz) {
  put(dir, kTrainImages, images_u8(5, 4, 3), gz);
  put(dir, kTrainLabels, labels_u8(5), gz);
  put(dir, kTestImages, images_u8(3, 4, 3), gz);
  put(dir, kTestLabels, labels_u8(3), gz);
}

void expect_error(const std::function<void()>& f, const std::string& path,
                  const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no vae::Error for " << path << " (expected \"" << what << "\")";
  } catch (const vae::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

void expect_load_error(const std::string& folder, const std::string& path,
                       const std::string& what) {
  expect_error([&] { vae::load_data(folder); }, path, what);
}

/// Sets or clears $FASHION_MNIST_DIR for one scope and puts the old value back after.
class ScopedFashionDir {
 public:
  explicit ScopedFashionDir(const char* value) {
    if (const char* old = std::getenv("FASHION_MNIST_DIR")) old_ = old;
    if (value)
      ::setenv("FASHION_MNIST_DIR", value, 1);
    else
      ::unsetenv("FASHION_MNIST_DIR");
  }
  ~ScopedFashionDir() {
    if (old_)
      ::setenv("FASHION_MNIST_DIR", old_->c_str(), 1);
    else
      ::unsetenv("FASHION_MNIST_DIR");
  }

 private:
  std::optional<std::string> old_;
};

void expect_small_splits(const vae::DataSplits& s, const std::string& folder) {
  EXPECT_EQ(s.source, folder);
  const vae::Dataset& tr = s.train;
  EXPECT_EQ(tr.n, 5u);
  EXPECT_EQ(tr.d, 12u);
  EXPECT_EQ(tr.height, 4);
  EXPECT_EQ(tr.width, 3);
  EXPECT_EQ(tr.channels, 1);
  ASSERT_EQ(tr.x.size(), 60u);
  ASSERT_EQ(tr.labels.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(tr.labels[i], static_cast<int32_t>(i % 10));
    for (size_t j = 0; j < 12; ++j)
      EXPECT_FLOAT_EQ(tr.row(i)[j], ((i * 31 + j * 7) % 256) / 255.0f) << i << "," << j;
  }
  EXPECT_EQ(s.test.n, 3u);
  EXPECT_EQ(s.test.d, 12u);
  EXPECT_EQ(s.test.height, 4);
  EXPECT_EQ(s.test.width, 3);
  EXPECT_EQ(s.test.channels, 1);
  EXPECT_EQ(s.test.labels, (std::vector<int32_t>{0, 1, 2}));
}

TEST(LoadData, PlainFolder) {
  TempDir dir;
  write_folder(dir, false);
  expect_small_splits(vae::load_data(dir.path()), dir.path());
}

TEST(LoadData, GzipFolder) {
  TempDir dir;
  write_folder(dir, true);
  expect_small_splits(vae::load_data(dir.path()), dir.path());
}

TEST(LoadData, MixedPlainAndGzip) {
  TempDir dir;
  put(dir, kTrainImages, images_u8(5, 4, 3), true);
  put(dir, kTrainLabels, labels_u8(5), false);
  put(dir, kTestImages, images_u8(3, 4, 3), false);
  put(dir, kTestLabels, labels_u8(3), true);
  expect_small_splits(vae::load_data(dir.path()), dir.path());
}

TEST(LoadData, PlainFileWinsOverGzip) {
  TempDir dir;
  write_folder(dir, false);
  // A .gz twin with different contents (and a different count) must be ignored.
  put(dir, kTrainImages, images_u8(7, 4, 3), true);
  put(dir, kTrainLabels, labels_u8(7), true);
  EXPECT_EQ(vae::load_data(dir.path()).train.n, 5u);
}

TEST(LoadData, FloatImagesInUnitRangeAreTakenAsTheyAre) {
  TempDir dir;
  write_folder(dir, false);
  put(dir, kTestImages, images_f32({0.0f, 0.5f, 1.0f, 0.25f, 0.0f, 0.125f}, 1, 2));
  write_bytes(dir.file(kTrainImages),
              images_f32({1.0f, 0.0f, 0.75f, 0.5f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, 1, 2));
  vae::DataSplits s = vae::load_data(dir.path());
  EXPECT_EQ(s.train.d, 2u);
  EXPECT_EQ(s.test.x, (std::vector<float>{0.0f, 0.5f, 1.0f, 0.25f, 0.0f, 0.125f}));
  EXPECT_FLOAT_EQ(s.train.row(1)[0], 0.75f);
}

TEST(LoadDataErrors, FloatImagesOutsideUnitRange) {
  TempDir dir;
  write_folder(dir, false);
  put(dir, kTestImages, images_f32({0.0f, 0.5f, 255.0f, 0.25f, 0.0f, 0.125f}, 1, 2));
  expect_load_error(dir.path(), dir.file(kTestImages), "at index 2 outside [0, 1]");
}

TEST(LoadDataErrors, ImageAndLabelCountsDisagree) {
  TempDir dir;
  write_folder(dir, true);
  put(dir, kTrainLabels, labels_u8(4), true);
  std::string images = dir.file(kTrainImages) + ".gz";
  expect_load_error(dir.path(), images,
                    "5 images but 4 labels in " + dir.file(kTrainLabels) + ".gz");
}

TEST(LoadDataErrors, TrainAndTestImageSizesDiffer) {
  TempDir dir;
  write_folder(dir, false);
  put(dir, kTestImages, images_u8(3, 3, 4));
  expect_load_error(dir.path(), dir.file(kTestImages),
                    "images are 3x4 but " + dir.file(kTrainImages) + " has 4x3");
}

TEST(LoadDataErrors, MissingFileInFolder) {
  TempDir dir;
  write_folder(dir, false);
  std::remove(dir.file(kTestLabels).c_str());
  expect_load_error(dir.path(), dir.path(), "missing t10k-labels-idx1-ubyte[.gz]");
}

TEST(LoadDataErrors, MissingFolder) {
  TempDir dir;
  expect_load_error(dir.file("absent"), dir.file("absent"), "no such folder");
}

TEST(LoadDataErrors, WrongShapesAndTypes) {
  TempDir dir;
  write_folder(dir, false);
  put(dir, kTrainImages, idx_bytes(0x08, {5, 12}, std::string(60, '\1')));
  expect_load_error(dir.path(), dir.file(kTrainImages), "got u8 5x12");

  put(dir, kTrainImages, idx_bytes(0x0B, {5, 4, 3}, std::string(120, '\1')));
  expect_load_error(dir.path(), dir.file(kTrainImages), "got i16 5x4x3");

  put(dir, kTrainImages, images_u8(5, 4, 3));
  put(dir, kTrainLabels, idx_bytes(0x08, {5, 1}, std::string(5, '\1')));
  expect_load_error(dir.path(), dir.file(kTrainLabels), "expected labels of type u8");

  put(dir, kTrainLabels, idx_bytes(0x0C, {5}, std::string(20, '\0')));
  expect_load_error(dir.path(), dir.file(kTrainLabels), "got i32 5");

  put(dir, kTrainLabels, labels_u8(5));
  put(dir, kTrainImages, images_u8(0, 4, 3));
  expect_load_error(dir.path(), dir.file(kTrainImages), "no images");
}

TEST(LoadDataErrors, CorruptFileIsNamed) {
  TempDir dir;
  write_folder(dir, true);
  std::string gz = gzip(images_u8(3, 4, 3));
  write_bytes(dir.file(kTestImages) + ".gz", gz.substr(0, gz.size() / 2));
  expect_load_error(dir.path(), dir.file(kTestImages) + ".gz", "truncated gzip stream");
}

TEST(LoadData, FashionMnistNameFollowsEnvironment) {
  TempDir dir;
  write_folder(dir, true);
  ScopedFashionDir env(dir.path().c_str());
  expect_small_splits(vae::load_data("fashion-mnist"), dir.path());

  ScopedFashionDir missing(dir.file("absent").c_str());
  expect_error([] { vae::load_data("fashion-mnist"); }, dir.file("absent"), "FASHION_MNIST_DIR");
}

TEST(LoadData, RealFashionMnist) {
  ScopedFashionDir env(nullptr);
  const std::string folder = "/usr/share/datasets/fashion-mnist";
  if (!vae_test::exists(folder)) GTEST_SKIP() << folder << " not installed";
  vae::DataSplits s = vae::load_data("fashion-mnist");
  EXPECT_EQ(s.source, folder);
  EXPECT_EQ(s.train.n, 60000u);
  EXPECT_EQ(s.test.n, 10000u);
  for (const vae::Dataset* ds : {&s.train, &s.test}) {
    EXPECT_EQ(ds->height, 28);
    EXPECT_EQ(ds->width, 28);
    EXPECT_EQ(ds->channels, 1);
    EXPECT_EQ(ds->d, 784u);
    ASSERT_EQ(ds->x.size(), ds->n * 784);
    ASSERT_EQ(ds->labels.size(), ds->n);
    std::vector<size_t> per_class(10);
    for (int32_t l : ds->labels) {
      ASSERT_GE(l, 0);
      ASSERT_LE(l, 9);
      ++per_class[l];
    }
    // Fashion-MNIST is balanced: 6000 and 1000 of each class.
    for (size_t c : per_class) EXPECT_EQ(c, ds->n / 10);
    float lo = 1, hi = 0;
    for (float v : ds->x) lo = std::min(lo, v), hi = std::max(hi, v);
    EXPECT_EQ(lo, 0.0f);
    EXPECT_EQ(hi, 1.0f);
  }
}

}  // namespace
