// Tests for src/viz/canvas.cpp and src/viz/font.cpp: the glyph table, text measurement and
// placement (upright and turned), compositing, shapes, clipping and blitting.
#include "viz/canvas.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace {

bool ink(const vae::Canvas& c, int x, int y) {
  const vae::Rgb p = c.at(x, y);
  return p.r != 255 || p.g != 255 || p.b != 255;
}

// Bounding box [x0, x1] × [y0, y1] of every non-white pixel; false when there is none.
bool ink_box(const vae::Canvas& c, int* x0, int* y0, int* x1, int* y1) {
  *x0 = c.width(), *y0 = c.height(), *x1 = -1, *y1 = -1;
  for (int y = 0; y < c.height(); ++y)
    for (int x = 0; x < c.width(); ++x)
      if (ink(c, x, y)) {
        *x0 = std::min(*x0, x), *x1 = std::max(*x1, x);
        *y0 = std::min(*y0, y), *y1 = std::max(*y1, y);
      }
  return *x1 >= 0;
}

TEST(Font, EveryPrintableGlyphHasInkExceptSpace) {
  for (int ch = 32; ch <= 126; ++ch) {
    const uint8_t* rows = vae::glyph_rows(static_cast<char>(ch));
    int bits = 0;
    for (int r = 0; r < vae::kGlyphHeight; ++r) {
      EXPECT_EQ(rows[r] & ~0x1F, 0) << "glyph " << ch << " is wider than 5 columns";
      bits += __builtin_popcount(rows[r]);
    }
    if (ch == ' ')
      EXPECT_EQ(bits, 0);
    else
      EXPECT_GT(bits, 0) << "glyph '" << static_cast<char>(ch) << "' is empty";
  }
  // Distinct glyphs for characters that are easy to confuse.
  auto same = [](char a, char b) {
    return std::equal(vae::glyph_rows(a), vae::glyph_rows(a) + vae::kGlyphHeight,
                      vae::glyph_rows(b));
  };
  EXPECT_FALSE(same('0', 'O'));
  EXPECT_FALSE(same('1', 'l'));
  EXPECT_FALSE(same('5', 'S'));
  // Only descenders use row 7.
  for (char ch : std::string("gjpqy,")) EXPECT_NE(vae::glyph_rows(ch)[7], 0) << ch;
  for (char ch : std::string("AZaz09")) EXPECT_EQ(vae::glyph_rows(ch)[7], 0) << ch;
}

TEST(Font, CharactersOutsideAsciiDrawAsQuestionMark) {
  EXPECT_EQ(vae::glyph_rows('\x01'), vae::glyph_rows('?'));
  EXPECT_EQ(vae::glyph_rows('\x7f'), vae::glyph_rows('?'));
  EXPECT_EQ(vae::glyph_rows(static_cast<char>(0xE9)), vae::glyph_rows('?'));
}

TEST(Font, SpellsOutTheSymbolsPlotsUse) {
  EXPECT_EQ(vae::to_font_text("\u2212ELBO"), "-ELBO");
  EXPECT_EQ(vae::to_font_text("Var \u03bc, \u03c3\u00b2"), "Var mu, sigma2");
  EXPECT_EQ(vae::to_font_text("caf\u00e9\t."), "caf??.");
  EXPECT_EQ(vae::to_font_text(""), "");
}

TEST(Font, TextWidth) {
  EXPECT_EQ(vae::text_width(""), 0);
  EXPECT_EQ(vae::text_width("A"), 5);
  EXPECT_EQ(vae::text_width("AB"), 11);
  EXPECT_EQ(vae::text_width("AB", 2), 22);
  EXPECT_EQ(vae::text_width("\u03bc"), vae::text_width("mu"));
}

TEST(Canvas, TextLiesInItsBox) {
  vae::Canvas c(60, 24);
  c.draw_text(3, 4, "Hello", {200, 0, 0});
  int x0, y0, x1, y1;
  ASSERT_TRUE(ink_box(c, &x0, &y0, &x1, &y1));
  EXPECT_EQ(x0, 3);                                 // 'H' starts in its first column
  EXPECT_EQ(x1, 3 + vae::text_width("Hello") - 1);  // 'o' ends in its fifth column
  EXPECT_EQ(y0, 4);                                 // 'H' and 'l' reach row 0
  EXPECT_EQ(y1, 4 + 6);                             // no descenders: last ink in row 6
  EXPECT_EQ(c.at(3, 4).r, 200);
  EXPECT_EQ(c.at(3, 4).g, 0);
}

TEST(Canvas, TextScalesByWholePixels) {
  vae::Canvas c(40, 30);
  c.draw_text(0, 0, "I", vae::kBlack, 3);
  int x0, y0, x1, y1;
  ASSERT_TRUE(ink_box(c, &x0, &y0, &x1, &y1));
  EXPECT_EQ(x0, 3);  // 'I' is ".###.": ink from column 1, three pixels per column
  EXPECT_EQ(x1, 3 * 4 - 1);
  EXPECT_EQ(y1, 3 * 7 - 1);
}

TEST(Canvas, UpwardTextIsTurnedCounterClockwise) {
  vae::Canvas c(20, 60);
  const std::string s = "HE";  // both reach column 4 and rows 0..6
  c.draw_text_up(5, 50, s, vae::kBlack);
  int x0, y0, x1, y1;
  ASSERT_TRUE(ink_box(c, &x0, &y0, &x1, &y1));
  // Glyph rows run along x (top of the letters to the left), characters run upwards from y.
  EXPECT_EQ(x0, 5);
  EXPECT_EQ(x1, 5 + 6);
  EXPECT_EQ(y1, 50 - 1);
  EXPECT_EQ(y0, 50 - vae::text_width(s));
}

TEST(Canvas, BlendIsSourceOver) {
  vae::Canvas c(2, 1);
  c.blend(0, 0, vae::kBlack, 0.5);
  EXPECT_EQ(c.at(0, 0).r, 128);  // ½·0 + ½·255 = 127.5, rounded
  c.blend(1, 0, {255, 0, 0}, 1.0);
  EXPECT_EQ(c.at(1, 0).g, 0);
  c.blend(1, 0, vae::kBlack, 0.0);
  EXPECT_EQ(c.at(1, 0).r, 255);
}

TEST(Canvas, ShapesCoverTheRightPixels) {
  vae::Canvas c(21, 21);
  // A disc of radius 3 centred on the centre of pixel (10, 10): the pixel centres (dx, dy) with
  // dx² + dy² <= 9, which are 29.
  c.fill_circle(10.5, 10.5, 3, vae::kBlack);
  int count = 0;
  for (int y = 0; y < 21; ++y)
    for (int x = 0; x < 21; ++x) count += ink(c, x, y);
  EXPECT_EQ(count, 29);

  vae::Canvas l(12, 8);
  l.draw_line(2, 5, 10, 5, vae::kBlack);
  for (int x = 0; x < 12; ++x) EXPECT_EQ(ink(l, x, 5), x >= 2 && x <= 10) << x;
  EXPECT_FALSE(ink(l, 5, 4));

  vae::Canvas d(24, 3);
  d.draw_line(0, 1, 23, 1, vae::kBlack, 1, 4);  // 4 on, 4 off
  EXPECT_TRUE(ink(d, 1, 1));
  EXPECT_FALSE(ink(d, 5, 1));
  EXPECT_TRUE(ink(d, 9, 1));

  vae::Canvas r(10, 10);
  r.stroke_rect(2, 2, 5, 4, vae::kBlack);
  EXPECT_TRUE(ink(r, 2, 2));
  EXPECT_TRUE(ink(r, 6, 5));
  EXPECT_FALSE(ink(r, 4, 3));
  EXPECT_FALSE(ink(r, 7, 5));
}

TEST(Canvas, DrawingOutsideIsClipped) {
  vae::Canvas c(8, 8);
  c.fill_rect(-5, -5, 100, 2, vae::kBlack);
  c.draw_text(-20, 100, "clipped", vae::kBlack);
  c.fill_circle(-10, -10, 3, vae::kBlack);
  c.draw_line(-50, 4, 50, 4, vae::kBlack);
  for (int x = 0; x < 8; ++x) {
    EXPECT_TRUE(ink(c, x, 4));
    EXPECT_FALSE(ink(c, x, 6));
  }
}

TEST(Canvas, BlitCopiesGreyAndColourImages) {
  vae::Image grey{2, 1, 1, {10, 20}};
  vae::Image rgba{1, 1, 4, {1, 2, 3, 0}};
  vae::Canvas c(4, 2);
  c.blit(1, 0, grey);
  c.blit(3, 1, rgba);
  EXPECT_EQ(c.at(1, 0).r, 10);
  EXPECT_EQ(c.at(2, 0).b, 20);
  EXPECT_EQ(c.at(3, 1).g, 2);  // alpha ignored
  const vae::Image out = c.image();
  EXPECT_EQ(out.channels, 3);
  EXPECT_EQ(out.pixels.size(), 4u * 2 * 3);
  EXPECT_EQ(out.pixels[(0 * 4 + 1) * 3], 10);
}

}  // namespace
