#include "viz/canvas.h"

#include <algorithm>
#include <cmath>

#include "vae/error.h"

namespace vae {

Canvas::Canvas(int width, int height, Rgb background) : width_(width), height_(height) {
  VAE_ASSERT(width > 0 && height > 0);
  px_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < px_.size(); i += 3) {
    px_[i] = background.r;
    px_[i + 1] = background.g;
    px_[i + 2] = background.b;
  }
}

Rgb Canvas::at(int x, int y) const {
  VAE_ASSERT(x >= 0 && x < width_ && y >= 0 && y < height_);
  const uint8_t* p = &px_[(static_cast<size_t>(y) * width_ + x) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::set(int x, int y, Rgb c) {
  if (x < 0 || x >= width_ || y < 0 || y >= height_) return;
  uint8_t* p = &px_[(static_cast<size_t>(y) * width_ + x) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void Canvas::blend(int x, int y, Rgb c, double alpha) {
  if (x < 0 || x >= width_ || y < 0 || y >= height_) return;
  alpha = std::clamp(alpha, 0.0, 1.0);
  uint8_t* p = &px_[(static_cast<size_t>(y) * width_ + x) * 3];
  const uint8_t src[3] = {c.r, c.g, c.b};
  for (int k = 0; k < 3; ++k)
    p[k] = static_cast<uint8_t>(std::lround(alpha * src[k] + (1.0 - alpha) * p[k]));
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  const int x0 = std::max(x, 0), x1 = std::min(x + w, width_);
  const int y0 = std::max(y, 0), y1 = std::min(y + h, height_);
  for (int yy = y0; yy < y1; ++yy)
    for (int xx = x0; xx < x1; ++xx) set(xx, yy, c);
}

void Canvas::stroke_rect(int x, int y, int w, int h, Rgb c) {
  fill_rect(x, y, w, 1, c);
  fill_rect(x, y + h - 1, w, 1, c);
  fill_rect(x, y, 1, h, c);
  fill_rect(x + w - 1, y, 1, h, c);
}

void Canvas::draw_line(double x0, double y0, double x1, double y1, Rgb c, int thickness, int dash) {
  // Steps of at most half a pixel along the segment; at each, a thickness×thickness square.
  const double len = std::hypot(x1 - x0, y1 - y0);
  const int steps = std::max(1, static_cast<int>(std::ceil(len * 2)));
  const int lo = -(thickness - 1) / 2, hi = thickness / 2;
  for (int s = 0; s <= steps; ++s) {
    const double t = static_cast<double>(s) / steps;
    if (dash > 0 && static_cast<int>(t * len / dash) % 2 == 1) continue;
    const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0)));
    const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
    for (int dy = lo; dy <= hi; ++dy)
      for (int dx = lo; dx <= hi; ++dx) set(x + dx, y + dy, c);
  }
}

void Canvas::fill_circle(double cx, double cy, double r, Rgb c, double alpha) {
  const int x0 = static_cast<int>(std::floor(cx - r)), x1 = static_cast<int>(std::ceil(cx + r));
  const int y0 = static_cast<int>(std::floor(cy - r)), y1 = static_cast<int>(std::ceil(cy + r));
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      if (dx * dx + dy * dy <= r * r) blend(x, y, c, alpha);
    }
}

void Canvas::draw_text(int x, int y, const std::string& text, Rgb c, int scale) {
  const std::string s = to_font_text(text);
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t* rows = glyph_rows(s[i]);
    const int gx = x + static_cast<int>(i) * kCharAdvance * scale;
    for (int r = 0; r < kGlyphHeight; ++r)
      for (int k = 0; k < kGlyphWidth; ++k)
        if (rows[r] & (1 << (4 - k))) fill_rect(gx + k * scale, y + r * scale, scale, scale, c);
  }
}

void Canvas::draw_text_up(int x, int y, const std::string& text, Rgb c, int scale) {
  // Turning 90° counter-clockwise maps the glyph's (column k, row r) to (x + r, y − k): the
  // text's baseline runs upwards along the left edge, its top faces left.
  const std::string s = to_font_text(text);
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t* rows = glyph_rows(s[i]);
    const int gy = y - static_cast<int>(i) * kCharAdvance * scale;
    for (int r = 0; r < kGlyphHeight; ++r)
      for (int k = 0; k < kGlyphWidth; ++k)
        if (rows[r] & (1 << (4 - k)))
          fill_rect(x + r * scale, gy - (k + 1) * scale, scale, scale, c);
  }
}

void Canvas::blit(int x, int y, const Image& img) {
  VAE_ASSERT(img.channels == 1 || img.channels == 3 || img.channels == 4);
  for (int r = 0; r < img.height; ++r)
    for (int k = 0; k < img.width; ++k) {
      const uint8_t* p = &img.pixels[(static_cast<size_t>(r) * img.width + k) * img.channels];
      set(x + k, y + r, img.channels == 1 ? Rgb{p[0], p[0], p[0]} : Rgb{p[0], p[1], p[2]});
    }
}

Image Canvas::image() const {
  Image img;
  img.width = width_;
  img.height = height_;
  img.channels = 3;
  img.pixels = px_;
  return img;
}

}  // namespace vae
