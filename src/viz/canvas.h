// A small RGB raster canvas for pictures that carry text: labelled image grids and PNG plots.
// Text is drawn with a built-in 5x8 bitmap font covering printable ASCII; a few UTF-8 symbols
// that plots use (−, μ, σ, ², ×, …) are drawn as their ASCII spelling, anything else as '?'.
//
// Coordinates are pixels, x to the right and y down, (0, 0) the top-left corner. Everything
// drawn outside the canvas is clipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/png.h"

namespace vae {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

inline constexpr Rgb kBlack{0, 0, 0};
inline constexpr Rgb kWhite{255, 255, 255};

// ---- The font --------------------------------------------------------------------------------
//   Each glyph is 5 columns by 8 rows: rows 0..6 hold capitals and digits (baseline under row 6),
//   row 7 the descenders of g, j, p, q, y. A character advances 6 columns; a line is 10 rows.
inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 8;
inline constexpr int kCharAdvance = 6;
inline constexpr int kLineHeight = 10;

/// The 8 rows of the glyph for `c`, bit 4 the leftmost column. Characters outside printable
/// ASCII (32..126) get the glyph of '?'.
const uint8_t* glyph_rows(char c);

/// `text` (UTF-8) as the font draws it: printable ASCII kept, known symbols spelt out
/// ("μ" → "mu", "−" → "-", "²" → "2", "σ" → "sigma", "×" → "x", "…" → "..."), others '?'.
std::string to_font_text(const std::string& text);

/// Width in pixels of `text` drawn at `scale`: n characters take n·6·scale − scale columns
/// (no spacing after the last one); 0 for empty text.
int text_width(const std::string& text, int scale = 1);

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  Rgb at(int x, int y) const;  ///< asserts (x, y) is inside

  void set(int x, int y, Rgb c);
  /// Source-over compositing: p ← α c + (1 − α) p, α in [0, 1].
  void blend(int x, int y, Rgb c, double alpha);
  void fill_rect(int x, int y, int w, int h, Rgb c);
  /// One-pixel outline of the rectangle [x, x + w) × [y, y + h).
  void stroke_rect(int x, int y, int w, int h, Rgb c);
  /// A line `thickness` pixels wide (a square brush stepped along the segment); `dash` > 0 draws
  /// `dash` pixels on, `dash` off.
  void draw_line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1,
                 int dash = 0);
  /// Every pixel whose centre lies within r of (cx, cy), blended with alpha.
  void fill_circle(double cx, double cy, double r, Rgb c, double alpha = 1.0);
  /// Text with its top-left corner at (x, y), each font pixel a scale×scale block.
  void draw_text(int x, int y, const std::string& text, Rgb c, int scale = 1);
  /// Text turned 90° counter-clockwise (reading upwards), its bottom-left corner at (x, y).
  void draw_text_up(int x, int y, const std::string& text, Rgb c, int scale = 1);
  /// Copies `img` (grey, RGB, or RGBA with alpha ignored) with its top-left corner at (x, y).
  void blit(int x, int y, const Image& img);

  /// The canvas as a 3-channel Image.
  Image image() const;

 private:
  int width_, height_;
  std::vector<uint8_t> px_;  // (height, width, 3)
};

}  // namespace vae
