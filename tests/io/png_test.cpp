// Tests for src/io/png.cpp: write/read round trips, the reader's expansion of other PNG layouts
// to 8 bits (encoded here with libpng directly), the grid layout, and errors for missing,
// foreign, corrupt and truncated files and for failed writes.
#include "io/png.h"

#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cmath>
#include <csetjmp>
#include <limits>

#include "test_util.h"
#include "vae/error.h"

namespace {

vae::Image pattern_image(int width, int height, int channels) {
  vae::Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.pixels.resize(static_cast<size_t>(width) * height * channels);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 37 + 11);
  return img;
}

// A PNG in any layout libpng can write, for testing the reader's conversions. Rows are given in
// the file's own packing (16-bit samples big-endian, sub-byte samples packed high bit first).
struct RawPng {
  int width = 0, height = 0, bit_depth = 8, color_type = PNG_COLOR_TYPE_GRAY;
  bool interlaced = false;
  std::vector<std::vector<uint8_t>> rows;
  std::vector<png_color> palette;
  std::vector<uint8_t> palette_alpha;
};

void append_to_string(png_structp png, png_bytep data, size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), n);
}

// Owns nothing, so that libpng's longjmp on error crosses no destructor.
bool encode_raw(const RawPng& spec, png_bytep* rows, std::string* out) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, append_to_string, nullptr);
  png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty())
    png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
  if (!spec.palette_alpha.empty())
    png_set_tRNS(png, info, spec.palette_alpha.data(), static_cast<int>(spec.palette_alpha.size()),
                 nullptr);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

vae::Image decode_raw(const RawPng& spec) {
  std::vector<std::vector<uint8_t>> copy = spec.rows;
  std::vector<png_bytep> rows;
  for (auto& r : copy) rows.push_back(r.data());
  std::string bytes;
  EXPECT_TRUE(encode_raw(spec, rows.data(), &bytes));
  vae_test::TempDir dir;
  vae_test::write_bytes(dir.file("raw.png"), bytes);
  return vae::read_png(dir.file("raw.png"));
}

std::string error_of(const std::string& path) {
  try {
    vae::read_png(path);
  } catch (const vae::Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  return "";
}

TEST(Png, RoundTripGreyRgbRgba) {
  vae_test::TempDir dir;
  for (int channels : {1, 3, 4}) {
    SCOPED_TRACE(channels);
    const vae::Image img = pattern_image(7, 5, channels);
    vae::write_png(dir.file("x.png"), img);
    const std::string bytes = vae_test::read_bytes(dir.file("x.png"));
    EXPECT_EQ(bytes.substr(0, 8), "\x89PNG\r\n\x1a\n");
    const vae::Image back = vae::read_png(dir.file("x.png"));
    EXPECT_EQ(back.width, 7);
    EXPECT_EQ(back.height, 5);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, img.pixels);
  }
}

TEST(Png, ReaderExpandsOtherLayoutsTo8Bits) {
  {
    SCOPED_TRACE("palette, 2 bits per index");
    RawPng p;
    p.width = 3;
    p.height = 1;
    p.bit_depth = 2;
    p.color_type = PNG_COLOR_TYPE_PALETTE;
    p.palette = {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}};
    p.rows = {{0x24}};  // indices 0, 2, 1 packed high bits first: 00 10 01 00
    const vae::Image img = decode_raw(p);
    EXPECT_EQ(img.channels, 3);
    EXPECT_EQ(img.pixels, (std::vector<uint8_t>{10, 20, 30, 70, 80, 90, 40, 50, 60}));
  }
  {
    SCOPED_TRACE("palette with transparency");
    RawPng p;
    p.width = 2;
    p.height = 1;
    p.color_type = PNG_COLOR_TYPE_PALETTE;
    p.palette = {{1, 2, 3}, {4, 5, 6}};
    p.palette_alpha = {0};  // index 0 transparent, index 1 opaque
    p.rows = {{0, 1}};
    const vae::Image img = decode_raw(p);
    EXPECT_EQ(img.channels, 4);
    EXPECT_EQ(img.pixels, (std::vector<uint8_t>{1, 2, 3, 0, 4, 5, 6, 255}));
  }
  {
    SCOPED_TRACE("grey, 1 bit");
    RawPng p;
    p.width = 4;
    p.height = 2;
    p.bit_depth = 1;
    p.rows = {{0xa0}, {0x50}};  // 1010, 0101
    const vae::Image img = decode_raw(p);
    EXPECT_EQ(img.channels, 1);
    EXPECT_EQ(img.pixels, (std::vector<uint8_t>{255, 0, 255, 0, 0, 255, 0, 255}));
  }
  {
    SCOPED_TRACE("grey, 4 bits");
    RawPng p;
    p.width = 2;
    p.height = 1;
    p.bit_depth = 4;
    p.rows = {{0x3f}};  // 3, 15 -> 3 * 17, 15 * 17
    EXPECT_EQ(decode_raw(p).pixels, (std::vector<uint8_t>{51, 255}));
  }
  {
    SCOPED_TRACE("grey, 16 bits");
    RawPng p;
    p.width = 2;
    p.height = 1;
    p.bit_depth = 16;
    p.rows = {{0x12, 0x34, 0xfe, 0xff}};  // big-endian 0x1234, 0xfeff keep their high bytes
    const vae::Image img = decode_raw(p);
    EXPECT_EQ(img.channels, 1);
    EXPECT_EQ(img.pixels, (std::vector<uint8_t>{0x12, 0xfe}));
  }
  {
    SCOPED_TRACE("RGB, 16 bits");
    RawPng p;
    p.width = 1;
    p.height = 1;
    p.bit_depth = 16;
    p.color_type = PNG_COLOR_TYPE_RGB;
    p.rows = {{0xab, 0x01, 0x00, 0xff, 0x7f, 0x80}};
    const vae::Image img = decode_raw(p);
    EXPECT_EQ(img.channels, 3);
    EXPECT_EQ(img.pixels, (std::vector<uint8_t>{0xab, 0x00, 0x7f}));
  }
  {
    SCOPED_TRACE("grey + alpha becomes RGBA");
    RawPng p;
    p.width = 2;
    p.height = 1;
    p.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
    p.rows = {{9, 200, 100, 255}};
    const vae::Image img = decode_raw(p);
    EXPECT_EQ(img.channels, 4);
    EXPECT_EQ(img.pixels, (std::vector<uint8_t>{9, 9, 9, 200, 100, 100, 100, 255}));
  }
  {
    SCOPED_TRACE("RGB, Adam7 interlaced");
    RawPng p;
    p.width = 9;
    p.height = 10;
    p.color_type = PNG_COLOR_TYPE_RGB;
    p.interlaced = true;
    const vae::Image expected = pattern_image(9, 10, 3);
    for (int y = 0; y < 10; ++y)
      p.rows.emplace_back(expected.pixels.begin() + y * 27, expected.pixels.begin() + (y + 1) * 27);
    EXPECT_EQ(decode_raw(p).pixels, expected.pixels);
  }
}

TEST(Png, GridSizeFollowsTheFormula) {
  struct Case {
    int n, cols, h, w, pad;
  };
  for (const Case& c : {Case{1, 1, 4, 5, 2}, Case{5, 3, 2, 3, 2}, Case{6, 3, 2, 3, 0},
                        Case{7, 8, 3, 3, 1}, Case{64, 8, 28, 28, 2}}) {
    const std::vector<float> images(static_cast<size_t>(c.n) * c.h * c.w, 0.5f);
    const vae::Image g = vae::make_grid(images.data(), c.n, c.h, c.w, 1, c.cols, c.pad);
    const int rows = (c.n + c.cols - 1) / c.cols;
    EXPECT_EQ(g.width, c.cols * c.w + (c.cols + 1) * c.pad);
    EXPECT_EQ(g.height, rows * c.h + (rows + 1) * c.pad);
    EXPECT_EQ(g.channels, 1);
    EXPECT_EQ(g.pixels.size(), static_cast<size_t>(g.width) * g.height);
  }
}

TEST(Png, GridPlacesTilesAndPadsWhite) {
  // Five 2x3 grey tiles, three per row, 2 pixels of padding: a 17 x 10 image. Pixel (y, x) of
  // tile k holds k * 6 + y * 3 + x + 1, so every value names its tile and position.
  const int n = 5, h = 2, w = 3, cols = 3, pad = 2;
  std::vector<float> images(n * h * w);
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>(i + 1) / 255.f;
  const vae::Image g = vae::make_grid(images.data(), n, h, w, 1, cols, pad);
  ASSERT_EQ(g.width, 17);
  ASSERT_EQ(g.height, 10);
  auto at = [&](int y, int x) { return static_cast<int>(g.pixels[y * g.width + x]); };

  EXPECT_EQ(at(2, 2), 1);     // tile 0, top-left
  EXPECT_EQ(at(3, 4), 6);     // tile 0, bottom-right
  EXPECT_EQ(at(2, 7), 7);     // tile 1 starts after 3 pixels of tile 0 and 2 of padding
  EXPECT_EQ(at(2, 12), 13);   // tile 2
  EXPECT_EQ(at(6, 2), 19);    // tile 3 opens the second row, below 2 + 2 + 2 pixels
  EXPECT_EQ(at(7, 9), 30);    // tile 4, bottom-right
  EXPECT_EQ(at(6, 12), 255);  // the sixth cell is empty

  // Every pixel outside the five tiles is padding.
  int tile_pixels = 0;
  for (int y = 0; y < g.height; ++y) {
    for (int x = 0; x < g.width; ++x) {
      const int ty = y - pad, tx = x - pad;
      const bool in_tile = ty >= 0 && tx >= 0 && ty % (h + pad) < h && tx % (w + pad) < w &&
                           ty / (h + pad) * cols + tx / (w + pad) < n && tx / (w + pad) < cols;
      if (in_tile) {
        const int k = ty / (h + pad) * cols + tx / (w + pad);
        EXPECT_EQ(at(y, x), k * 6 + (ty % (h + pad)) * 3 + tx % (w + pad) + 1) << y << "," << x;
        ++tile_pixels;
      } else {
        EXPECT_EQ(at(y, x), 255) << y << "," << x;
      }
    }
  }
  EXPECT_EQ(tile_pixels, n * h * w);
}

TEST(Png, GridClampsAndRoundsEachChannel) {
  // One 1x2 RGBA tile: values below 0, above 1 and NaN clamp; the rest round to nearest.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float tile[8] = {-0.5f, 1.5f, nan, 0.5f, 0.2f, 10.4f / 255.f, 10.6f / 255.f, 1.f};
  const vae::Image g = vae::make_grid(tile, 1, 1, 2, 4, 1, 1);
  ASSERT_EQ(g.width, 4);
  ASSERT_EQ(g.height, 3);
  ASSERT_EQ(g.channels, 4);
  const uint8_t* p = &g.pixels[(1 * 4 + 1) * 4];
  EXPECT_EQ(std::vector<uint8_t>(p, p + 8),
            (std::vector<uint8_t>{0, 255, 0, 128, 51, 10, 11, 255}));
  EXPECT_EQ(std::vector<uint8_t>(g.pixels.begin(), g.pixels.begin() + 4),
            (std::vector<uint8_t>{255, 255, 255, 255}));  // padding is opaque white
}

TEST(Png, MissingFileIsAnError) {
  vae_test::TempDir dir;
  EXPECT_NE(error_of(dir.file("absent.png")).find("cannot open"), std::string::npos);
}

TEST(Png, ForeignFileIsAnError) {
  vae_test::TempDir dir;
  vae_test::write_bytes(dir.file("a.png"), "GIF89a, not a PNG at all");
  EXPECT_NE(error_of(dir.file("a.png")).find("not a PNG file"), std::string::npos);
  vae_test::write_bytes(dir.file("b.png"), "");
  EXPECT_NE(error_of(dir.file("b.png")).find("not a PNG file"), std::string::npos);
}

TEST(Png, CorruptImageDataIsAnError) {
  vae_test::TempDir dir;
  vae::write_png(dir.file("x.png"), pattern_image(8, 8, 3));
  const std::string good = vae_test::read_bytes(dir.file("x.png"));
  const size_t idat = good.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  std::string bad = good;
  bad[idat + 8] = static_cast<char>(bad[idat + 8] ^ 0x55);
  vae_test::write_bytes(dir.file("bad.png"), bad);
  EXPECT_NE(error_of(dir.file("bad.png")).find("corrupt"), std::string::npos);

  // A well-formed IHDR (its CRC fixed up) claiming a 1e6 x 1e6 image, which a file this small
  // cannot hold: refused before 3 TB of pixels are allocated.
  std::string huge = good;
  const size_t ihdr = good.find("IHDR");
  huge.replace(ihdr + 4, 8, std::string("\x00\x0f\x42\x40\x00\x0f\x42\x40", 8));
  const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(huge.data() + ihdr), 4 + 13);
  for (int i = 0; i < 4; ++i) huge[ihdr + 17 + i] = static_cast<char>(crc >> (24 - 8 * i));
  vae_test::write_bytes(dir.file("huge.png"), huge);
  EXPECT_NE(error_of(dir.file("huge.png")).find("cannot fit"), std::string::npos);
}

TEST(Png, EveryTruncationIsAnError) {
  vae_test::TempDir dir;
  vae::write_png(dir.file("x.png"), pattern_image(5, 4, 3));
  const std::string bytes = vae_test::read_bytes(dir.file("x.png"));
  for (size_t len = 0; len < bytes.size(); ++len) {
    vae_test::write_bytes(dir.file("cut.png"), bytes.substr(0, len));
    EXPECT_FALSE(error_of(dir.file("cut.png")).empty()) << "truncated to " << len;
  }
}

TEST(Png, ByteFlipsGiveImageOrError) {
  vae_test::TempDir dir;
  vae::write_png(dir.file("x.png"), pattern_image(6, 3, 4));
  const std::string bytes = vae_test::read_bytes(dir.file("x.png"));
  for (size_t pos = 0; pos < bytes.size(); ++pos) {
    std::string mutated = bytes;
    mutated[pos] = static_cast<char>(mutated[pos] ^ 0x21);
    vae_test::write_bytes(dir.file("m.png"), mutated);
    try {
      const vae::Image img = vae::read_png(dir.file("m.png"));
      EXPECT_EQ(img.pixels.size(), static_cast<size_t>(img.width) * img.height * img.channels);
    } catch (const vae::Error&) {
    }
  }
}

TEST(Png, WriteToMissingFolderIsAnErrorAndLeavesNothing) {
  vae_test::TempDir dir;
  EXPECT_THROW(vae::write_png(dir.file("no/such/x.png"), pattern_image(2, 2, 1)), vae::Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Png, FailedWritesLeaveNoTemporaryFile) {
  vae_test::TempDir dir;
  // The destination is a folder: everything is written, then the rename fails.
  std::filesystem::create_directory(dir.file("taken"));
  EXPECT_THROW(vae::write_png(dir.file("taken"), pattern_image(2, 2, 1)), vae::Error);
  // libpng refuses a width above its default limit of 1e6 after the file was opened.
  vae::Image wide;
  wide.width = 1000001;
  wide.height = 1;
  wide.channels = 1;
  wide.pixels.assign(1000001, 0);
  try {
    vae::write_png(dir.file("wide.png"), wide);
    FAIL() << "no error";
  } catch (const vae::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir.file("wide.png") + ": cannot write PNG (", 0), 0u)
        << e.what();
  }
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    left.push_back(entry.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"taken"});
}

}  // namespace
