// PNG output (libpng) for sample and reconstruction grids, and a reader for tests and tools.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vae {

struct Image {
  int width = 0, height = 0, channels = 0;  ///< channels: 1 grey, 3 RGB, 4 RGBA
  std::vector<uint8_t> pixels;              ///< (height, width, channels), row-major
};

/// Writes an 8-bit grey (channels 1) or RGB (3) or RGBA (4) PNG atomically.
void write_png(const std::string& path, const Image& img);
/// The bytes write_png would write, in memory (an HTTP answer).
std::string encode_png(const Image& img);
/// Reads any PNG libpng understands, expanded to 8-bit; throws vae::Error "<path>: <what>".
Image read_png(const std::string& path);

/// Tiles `n` images, each (h, w, c) floats in [0, 1] (clamped), into a grid `cols` wide with
/// `pad` pixels of white (255) padding between and around tiles.
/// Rows = ceil(n / cols).
Image make_grid(const float* images, int n, int h, int w, int c, int cols, int pad = 2);

}  // namespace vae
