// read_image_folder: flat and class layouts of small PNGs (vae::write_png, or libpng's simplified
// API for grey + alpha) and JPEGs (encoded here with libjpeg), channel handling, file order, and
// a vae::Error naming the folder or file for each bad layout or image.
#include <cstdio>
// <cstdio> comes first: jpeglib.h needs FILE and size_t declared before it.
#include <gtest/gtest.h>
#include <jpeglib.h>
#include <png.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "io/png.h"
#include "test_util.h"
#include "vae/error.h"
#include "vae/readers.h"

namespace {

namespace fs = std::filesystem;
using vae_test::TempDir;
using vae_test::write_bytes;

// A (height, width, channels) image whose bytes start at `first` and count up.
vae::Image ramp(int width, int height, int channels, int first = 0) {
  vae::Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.pixels.resize(static_cast<size_t>(width) * height * channels);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(first + i);
  return img;
}

void write_ramp(const std::string& path, int width, int height, int channels, int first = 0) {
  vae::write_png(path, ramp(width, height, channels, first));
}

enum class Scans {
  kBaseline,
  kProgressive,  // libjpeg's standard progression: 6 scans for grey, 10 for colour
  kExcessive,    // grey only: 694 scans, valid but far beyond any encoder's choice
};

// A JPEG of one flat colour, `channels` 1 (grey), 3 (RGB) or 4 (CMYK), quality 100.
std::string jpeg_bytes(int width, int height, int channels, uint8_t value,
                       Scans scans = Scans::kBaseline) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &out, &size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = channels;
  cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 100, TRUE);
  if (scans == Scans::kProgressive) jpeg_simple_progression(&cinfo);
  // The DC scan, then each AC coefficient on its own: a first scan at the coarsest allowed
  // bit position (10) and ten refinements of one bit each.
  std::vector<jpeg_scan_info> script;
  if (scans == Scans::kExcessive) {
    script.push_back({1, {0}, 0, 0, 0, 0});
    for (int k = 1; k < 64; ++k) {
      script.push_back({1, {0}, k, k, 0, 10});
      for (int al = 9; al >= 0; --al) script.push_back({1, {0}, k, k, al + 1, al});
    }
    cinfo.scan_info = script.data();
    cinfo.num_scans = static_cast<int>(script.size());
  }
  jpeg_start_compress(&cinfo, TRUE);
  std::vector<JSAMPLE> row(static_cast<size_t>(width) * channels, value);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW p = row.data();
    jpeg_write_scanlines(&cinfo, &p, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string bytes(reinterpret_cast<char*>(out), size);
  std::free(out);
  return bytes;
}

std::string error_of(const std::string& dir) {
  try {
    vae::read_image_folder(dir);
  } catch (const vae::Error& e) {
    return e.what();
  }
  return "";
}

TEST(ReadImageFolder, FlatFolderInSortedOrderWithoutLabels) {
  TempDir dir;
  write_ramp(dir.file("b.png"), 3, 2, 1, 100);
  write_ramp(dir.file("a.png"), 3, 2, 1, 0);
  write_ramp(dir.file("c.PNG"), 3, 2, 1, 200);
  write_bytes(dir.file("notes.txt"), "not an image");
  // Hidden files are skipped even with an image extension: macOS's "._" files are not images.
  write_bytes(dir.file("._a.png"), "resource fork");
  fs::create_directory(dir.file("empty_subfolder"));

  std::vector<std::string> classes = {"stale"};
  const vae::Dataset ds = vae::read_image_folder(dir.path(), &classes);
  EXPECT_EQ(ds.n, 3u);
  EXPECT_EQ(ds.d, 6u);
  EXPECT_EQ(ds.height, 2);
  EXPECT_EQ(ds.width, 3);
  EXPECT_EQ(ds.channels, 1);
  EXPECT_TRUE(ds.labels.empty());
  EXPECT_TRUE(classes.empty());
  ASSERT_EQ(ds.x.size(), 18u);
  // Values 0..255 as stored, a.png then b.png then c.PNG.
  EXPECT_EQ(ds.x[0], 0.f);
  EXPECT_EQ(ds.x[5], 5.f);
  EXPECT_EQ(ds.x[6], 100.f);
  EXPECT_EQ(ds.x[12], 200.f);
  EXPECT_EQ(ds.x[17], 205.f);
}

TEST(ReadImageFolder, ClassSubfoldersGiveLabelsAndNames) {
  TempDir dir;
  fs::create_directories(dir.file("dog"));
  fs::create_directories(dir.file("cat/deeper"));
  write_ramp(dir.file("dog/1.png"), 2, 2, 3, 50);
  write_ramp(dir.file("cat/2.png"), 2, 2, 3, 10);
  write_ramp(dir.file("cat/1.png"), 2, 2, 3, 0);
  // Only one level of subfolders is read.
  write_ramp(dir.file("cat/deeper/x.png"), 9, 9, 1);

  std::vector<std::string> classes;
  const vae::Dataset ds = vae::read_image_folder(dir.path(), &classes);
  EXPECT_EQ(classes, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{0, 0, 1}));
  EXPECT_EQ(ds.n, 3u);
  EXPECT_EQ(ds.d, 12u);
  EXPECT_EQ(ds.channels, 3);
  EXPECT_EQ(ds.x[0], 0.f);    // cat/1.png
  EXPECT_EQ(ds.x[12], 10.f);  // cat/2.png
  EXPECT_EQ(ds.x[24], 50.f);  // dog/1.png
}

TEST(ReadImageFolder, AlphaIsDropped) {
  TempDir dir;
  write_ramp(dir.file("rgba.png"), 2, 1, 4);  // pixels (0 1 2 3) (4 5 6 7)
  const vae::Dataset ds = vae::read_image_folder(dir.path());
  EXPECT_EQ(ds.channels, 3);
  EXPECT_EQ(ds.x, (std::vector<float>{0, 1, 2, 4, 5, 6}));
}

TEST(ReadImageFolder, GreyWithAlphaStaysGrey) {
  TempDir dir;
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = 2;
  image.height = 1;
  image.format = PNG_FORMAT_GA;
  const uint8_t pixels[] = {7, 255, 9, 0};  // (grey, alpha) pairs
  ASSERT_TRUE(png_image_write_to_file(&image, dir.file("ga.png").c_str(), 0, pixels, 0, nullptr));
  const vae::Dataset ds = vae::read_image_folder(dir.path());
  EXPECT_EQ(ds.channels, 1);
  EXPECT_EQ(ds.x, (std::vector<float>{7, 9}));
}

TEST(ReadImageFolder, JpegGreyAndRgbBesidePng) {
  TempDir dir;
  write_bytes(dir.file("a.jpg"), jpeg_bytes(8, 8, 1, 128));
  write_bytes(dir.file("b.JPEG"), jpeg_bytes(8, 8, 1, 30));
  write_ramp(dir.file("c.png"), 8, 8, 1);
  vae::Dataset ds = vae::read_image_folder(dir.path());
  ASSERT_EQ(ds.n, 3u);
  EXPECT_EQ(ds.channels, 1);
  // A flat block survives quality-100 JPEG to within rounding.
  for (size_t i = 0; i < 64; ++i) {
    EXPECT_NEAR(ds.x[i], 128.f, 1.f);
    EXPECT_NEAR(ds.x[64 + i], 30.f, 1.f);
  }
  EXPECT_EQ(ds.x[128 + 63], 63.f);

  TempDir rgb;
  write_bytes(rgb.file("a.jpeg"), jpeg_bytes(16, 8, 3, 200));
  ds = vae::read_image_folder(rgb.path());
  EXPECT_EQ(ds.channels, 3);
  EXPECT_EQ(ds.width, 16);
  EXPECT_EQ(ds.height, 8);
  for (float v : ds.x) EXPECT_NEAR(v, 200.f, 2.f);
}

TEST(ReadImageFolder, ProgressiveJpeg) {
  TempDir dir;
  write_bytes(dir.file("a.jpg"), jpeg_bytes(24, 16, 3, 90, Scans::kProgressive));
  const vae::Dataset ds = vae::read_image_folder(dir.path());
  ASSERT_EQ(ds.d, 24u * 16u * 3u);
  for (float v : ds.x) EXPECT_NEAR(v, 90.f, 2.f);
}

TEST(ReadImageFolderErrors, JpegWithExcessiveScans) {
  TempDir dir;
  write_bytes(dir.file("a.jpg"), jpeg_bytes(8, 8, 1, 9, Scans::kExcessive));
  EXPECT_EQ(error_of(dir.path()),
            dir.file("a.jpg") +
                ": cannot decode JPEG (more than 500 progressive scans for this "
                "image size, far more than encoders write)");
}

TEST(ReadImageFolder, DecodedByContentNotExtension) {
  TempDir dir;
  write_bytes(dir.file("really_a_jpeg.png"), jpeg_bytes(4, 4, 1, 60));
  const vae::Dataset ds = vae::read_image_folder(dir.path());
  EXPECT_NEAR(ds.x[0], 60.f, 1.f);
}

TEST(ReadImageFolder, LinkLoopInsideClassFolderIsNotFollowed) {
  TempDir dir;
  fs::create_directories(dir.file("a"));
  write_ramp(dir.file("a/1.png"), 2, 2, 1);
  fs::create_directory_symlink(dir.path(), dir.file("a/loop"));
  fs::create_directory_symlink(dir.file("a"), dir.file("b_link"));  // a class of its own
  std::vector<std::string> classes;
  const vae::Dataset ds = vae::read_image_folder(dir.path(), &classes);
  EXPECT_EQ(classes, (std::vector<std::string>{"a", "b_link"}));
  EXPECT_EQ(ds.labels, (std::vector<int32_t>{0, 1}));
}

TEST(ReadImageFolderErrors, MismatchedSizeNamesBothFilesAndSizes) {
  TempDir dir;
  write_ramp(dir.file("a.png"), 4, 3, 1);
  write_ramp(dir.file("b.png"), 4, 3, 1);
  write_ramp(dir.file("c.png"), 5, 3, 1);
  EXPECT_EQ(error_of(dir.path()),
            dir.file("c.png") + ": image is 5x3 with 1 channel, but " + dir.file("a.png") +
                " is 4x3 with 1 channel; all images must share one size and channel count (they "
                "are not resized)");
}

TEST(ReadImageFolderErrors, MismatchedChannels) {
  TempDir dir;
  write_ramp(dir.file("a.png"), 4, 3, 1);
  write_ramp(dir.file("b.png"), 4, 3, 3);
  EXPECT_EQ(error_of(dir.path()),
            dir.file("b.png") + ": image is 4x3 with 3 channels, but " + dir.file("a.png") +
                " is 4x3 with 1 channel; all images must share one size and channel count (they "
                "are not resized)");
}

TEST(ReadImageFolderErrors, CorruptImagesAreNamed) {
  TempDir dir;
  write_ramp(dir.file("a.png"), 4, 3, 1);
  write_bytes(dir.file("b.png"), "definitely not an image");
  EXPECT_EQ(error_of(dir.path()),
            dir.file("b.png") + ": not a PNG or JPEG image (unrecognised first bytes)");

  write_bytes(dir.file("b.png"), "");
  EXPECT_EQ(error_of(dir.path()), dir.file("b.png") + ": empty file, not a PNG or JPEG image");

  const std::string png = vae_test::read_bytes(dir.file("a.png"));
  write_bytes(dir.file("b.png"), png.substr(0, png.size() / 2));
  EXPECT_EQ(error_of(dir.path()).rfind(dir.file("b.png") + ": corrupt or truncated PNG", 0), 0u);

  fs::remove(dir.file("b.png"));
  const std::string jpeg = jpeg_bytes(4, 3, 1, 9);
  write_bytes(dir.file("b.jpg"), jpeg.substr(0, jpeg.size() - 20));
  EXPECT_EQ(error_of(dir.path()),
            dir.file("b.jpg") + ": cannot decode JPEG (Premature end of JPEG file)");

  write_bytes(dir.file("b.jpg"), jpeg.substr(0, 40));
  EXPECT_EQ(error_of(dir.path()).rfind(dir.file("b.jpg") + ": cannot decode JPEG", 0), 0u);
}

TEST(ReadImageFolderErrors, CmykJpegIsRefused) {
  TempDir dir;
  write_bytes(dir.file("a.jpg"), jpeg_bytes(4, 4, 4, 9));
  EXPECT_EQ(error_of(dir.path()),
            dir.file("a.jpg") +
                ": unsupported JPEG colour space (4 components, not grey, YCbCr "
                "or RGB; CMYK JPEGs must be converted)");
}

TEST(ReadImageFolderErrors, HugeImagesAreRefusedFromTheirHeader) {
  TempDir dir;
  // PNG: a signature and an IHDR claiming 40000 x 40000; nothing else is needed to refuse it.
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x9c\x40\0\0\x9c\x40\x08\0\0\0\0", 29);
  write_bytes(dir.file("a.png"), png);
  EXPECT_EQ(error_of(dir.path()), dir.file("a.png") +
                                      ": 40000x40000 image is larger than 16777216 "
                                      "pixels, the limit for one image");

  // JPEG: a real file whose start-of-frame marker (FF C0: length, precision, height, width)
  // is patched to 60000 x 60000.
  fs::remove(dir.file("a.png"));
  std::string jpeg = jpeg_bytes(8, 8, 1, 9);
  const size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  for (size_t k : {sof + 5, sof + 7}) {
    jpeg[k] = static_cast<char>(0xEA);
    jpeg[k + 1] = static_cast<char>(0x60);
  }
  write_bytes(dir.file("a.jpg"), jpeg);
  EXPECT_EQ(error_of(dir.path()), dir.file("a.jpg") +
                                      ": 60000x60000 image is larger than 16777216 "
                                      "pixels, the limit for one image");
}

TEST(ReadImageFolderErrors, FoldersWithoutImages) {
  TempDir dir;
  const std::string none =
      ": no .png, .jpg or .jpeg images, neither in the folder nor in its subfolders";
  EXPECT_EQ(error_of(dir.path()), dir.path() + none);
  write_bytes(dir.file("readme.txt"), "x");
  fs::create_directories(dir.file("sub"));
  EXPECT_EQ(error_of(dir.path()), dir.path() + none);
  EXPECT_EQ(error_of(dir.file("absent")), dir.file("absent") + ": no such folder");
  EXPECT_EQ(error_of(dir.file("readme.txt")), dir.file("readme.txt") + ": not a folder");
}

TEST(ReadImageFolderErrors, EmptyClassFolder) {
  TempDir dir;
  fs::create_directories(dir.file("a"));
  fs::create_directories(dir.file("b"));
  write_ramp(dir.file("a/1.png"), 2, 2, 1);
  EXPECT_EQ(error_of(dir.path()),
            dir.file("b") +
                ": class folder holds no .png, .jpg or .jpeg images (every subfolder "
                "is a class)");
}

TEST(ReadImageFolderErrors, ImagesBesideClassFolders) {
  TempDir dir;
  fs::create_directories(dir.file("cls"));
  write_ramp(dir.file("cls/1.png"), 2, 2, 1);
  write_ramp(dir.file("top.png"), 2, 2, 1);
  EXPECT_EQ(error_of(dir.path()),
            dir.path() +
                ": holds both images ('top.png') and class subfolders with images "
                "('cls'); put every image in a class subfolder, or none");
}

TEST(ReadImageFolderErrors, PipeWithImageNameIsRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file("p.png").c_str(), 0600), 0);
  EXPECT_EQ(error_of(dir.path()),
            dir.file("p.png") +
                ": not a regular file (a broken link, a pipe or a device), so not readable as an "
                "image");
}

}  // namespace
