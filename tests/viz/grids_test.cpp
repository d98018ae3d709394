// Tests for src/viz/grids.cpp on a small random model (6x6 images, Z = 3): the labelled grid
// layout, and that each picture decodes what it says — the path ends, the swept values, the
// quantile grid and the PCA directions — checked pixel by pixel against Vae::decode.
//
// Legend: D = 36 values per image, Z latent size, R rows and C columns, s = 4 the tile scale.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "vae/error.h"
#include "vae/model.h"
#include "viz/viz.h"

namespace {

constexpr int kSide = 6, kD = kSide * kSide;

vae::Vae<float> tiny_model(int latent) {
  vae::ModelConfig c;
  c.input_dim = kD;
  c.hidden = {8};
  c.latent = latent;
  c.height = c.width = kSide;
  c.channels = 1;
  vae::Vae<float> model(c, 64);
  vae::Rng rng(3);
  model.init_params(rng);
  // Larger output weights than the default initialisation, so that different codes decode to
  // visibly different images.
  for (const vae::ParamInfo& p : model.params_info())
    if (p.name.rfind("decoder", 0) == 0)
      for (size_t i = 0; i < p.numel; ++i) model.params()[p.offset + i] *= 6;
  return model;
}

std::vector<float> decode(vae::Vae<float>& model, const std::vector<float>& z) {
  std::vector<float> x(kD);
  model.decode(z.data(), 1, x.data());
  return x;
}

uint8_t byte(float v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.f, 1.f) * 255)); }

// Expects the tile at grid cell (r, c) of `img` — gutter G, band T, scale s, 2-pixel padding —
// to show image x (D) pixel for pixel, in grey.
void expect_tile(const vae::Image& img, int G, int T, int r, int c, const std::vector<float>& x,
                 const std::string& what) {
  const int s = vae::tile_scale(kSide), pitch = s * kSide + 2;
  int wrong = 0;
  for (int py = 0; py < kSide; ++py)
    for (int px = 0; px < kSide; ++px)
      for (int dy = 0; dy < s; ++dy)
        for (int dx = 0; dx < s; ++dx) {
          const int X = G + 2 + c * pitch + px * s + dx, Y = T + 2 + r * pitch + py * s + dy;
          const uint8_t* p = &img.pixels[(static_cast<size_t>(Y) * img.width + X) * 3];
          // One step of 255 allowed: a batched decode may round differently from a single one.
          const int want = byte(x[py * kSide + px]);
          wrong += std::abs(p[0] - want) > 1 || p[1] != p[0] || p[2] != p[0];
        }
  EXPECT_EQ(wrong, 0) << what << ": tile (" << r << ", " << c << ")";
}

TEST(TileScale, RowsAtLeast24PixelsHigh) {
  EXPECT_EQ(vae::tile_scale(28), 1);
  EXPECT_EQ(vae::tile_scale(24), 1);
  EXPECT_EQ(vae::tile_scale(6), 4);
  EXPECT_EQ(vae::tile_scale(7), 4);
  EXPECT_EQ(vae::tile_scale(1), 24);
}

TEST(RenderTileGrid, LayoutAndPixels) {
  // 2 rows x 3 columns of constant tiles k / 6.
  std::vector<float> tiles(6 * kD);  // (R·C, 6, 6, 1)
  for (int k = 0; k < 6; ++k)
    for (int i = 0; i < kD; ++i) tiles[k * kD + i] = k / 6.0f;
  vae::TileGrid g;
  g.tiles = tiles.data();
  g.rows = 2;
  g.cols = 3;
  g.height = g.width = kSide;
  g.channels = 1;
  const vae::Image bare = vae::render_tile_grid(g);
  // s = 4: 3·24 + 2·4 = 80 wide, 2·24 + 2·3 = 54 high, no gutter or band.
  EXPECT_EQ(bare.width, 80);
  EXPECT_EQ(bare.height, 54);
  EXPECT_EQ(bare.channels, 3);

  g.row_labels = {{"a"}, {"bb", "c"}};
  g.col_labels = {"x", "y", "z"};
  const vae::Image img = vae::render_tile_grid(g);
  const int G = vae::text_width("bb") + 6, T = 12;  // 17 and 12
  EXPECT_EQ(img.width, G + 80);
  EXPECT_EQ(img.height, T + 54);
  for (int k = 0; k < 6; ++k)
    expect_tile(img, G, T, k / 3, k % 3, std::vector<float>(kD, k / 6.0f), "constant tiles");
  // Label text is drawn in the gutter and the band, and nowhere else is dark but tiles.
  int gutter_ink = 0, band_ink = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const bool dark = img.pixels[(static_cast<size_t>(y) * img.width + x) * 3] < 128;
      gutter_ink += dark && x < G && y >= T;
      band_ink += dark && y < T;
    }
  EXPECT_GT(gutter_ink, 10);
  EXPECT_GT(band_ink, 10);
}

TEST(InterpolationGrid, RowsRunFromOneCodeToTheOther) {
  vae::Vae<float> model = tiny_model(3);
  const std::vector<float> za = {2.0f, -1.0f, 0.5f}, zb = {-0.5f, 1.5f, -2.0f};
  const int steps = 5;
  const vae::Image img = vae::interpolation_grid(model, za.data(), zb.data(), steps);
  const int G = vae::text_width("spherical") + 6, T = 12;
  EXPECT_EQ(img.width, G + steps * 24 + 2 * (steps + 1));
  EXPECT_EQ(img.height, T + 2 * 24 + 2 * 3);
  for (int r = 0; r < 2; ++r) {
    expect_tile(img, G, T, r, 0, decode(model, za), "start");
    expect_tile(img, G, T, r, steps - 1, decode(model, zb), "end");
  }
  // Middle column: lerp on row 0, slerp on row 1.
  std::vector<float> mid(3);
  vae::lerp(mid.data(), za.data(), zb.data(), 3, 0.5);
  expect_tile(img, G, T, 0, 2, decode(model, mid), "lerp midpoint");
  vae::slerp(mid.data(), za.data(), zb.data(), 3, 0.5);
  expect_tile(img, G, T, 1, 2, decode(model, mid), "slerp midpoint");
}

TEST(InterpolationGrid, OriginalsFrameEachRow) {
  vae::Vae<float> model = tiny_model(3);
  const std::vector<float> za = {1, 0, 0}, zb = {0, 1, 0};
  std::vector<float> xa(kD, 0.25f), xb(kD, 0.75f);
  const int steps = 4;
  const vae::Image img =
      vae::interpolation_grid(model, za.data(), zb.data(), steps, xa.data(), xb.data(), "#3", "#8");
  const int G = vae::text_width("spherical") + 6, T = 12, C = steps + 2;
  EXPECT_EQ(img.width, G + C * 24 + 2 * (C + 1));
  for (int r = 0; r < 2; ++r) {
    expect_tile(img, G, T, r, 0, xa, "first original");
    expect_tile(img, G, T, r, 1, decode(model, za), "path start");
    expect_tile(img, G, T, r, C - 1, xb, "second original");
  }
}

TEST(TraversalOrder, ByKlWithCollapsedMarked) {
  vae::LatentStats s;
  s.kl_per_dim = {0.5, 3.0, 0.001, 1.0};
  s.mu_variance = {0.3, 2.0, 0.005, 0.01};
  const std::vector<vae::TraversalRow> rows = vae::traversal_order(s);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].dim, 1);
  EXPECT_EQ(rows[1].dim, 3);
  EXPECT_EQ(rows[2].dim, 0);
  EXPECT_EQ(rows[3].dim, 2);
  EXPECT_FALSE(rows[0].collapsed);
  EXPECT_TRUE(rows[1].collapsed);  // Var μ = 0.01 is not above the threshold
  EXPECT_FALSE(rows[2].collapsed);
  EXPECT_TRUE(rows[3].collapsed);
  EXPECT_EQ(rows[0].kl, 3.0);
}

TEST(TraversalGrid, SweepsOneDimensionPerRowAndMarksCollapsedRowsInRed) {
  vae::Vae<float> model = tiny_model(3);
  const std::vector<float> base = {0.3f, -0.2f, 0.1f};
  const std::vector<vae::TraversalRow> rows = {{2, 1.5, 0.8, false}, {0, 0.0, 0.0, true}};
  const int steps = 3;
  const double range = 2.0;
  const vae::Image img = vae::traversal_grid(model, base.data(), rows, range, steps);
  const int G = std::max(vae::text_width("collapsed"), vae::text_width("z_j =")) + 6, T = 12;
  EXPECT_EQ(img.width, G + steps * 24 + 2 * (steps + 1));
  EXPECT_EQ(img.height, T + 2 * 24 + 2 * 3);
  for (int r = 0; r < 2; ++r)
    for (int k = 0; k < steps; ++k) {
      std::vector<float> z = base;
      z[rows[r].dim] = static_cast<float>(-range + 2 * range * k / (steps - 1));
      expect_tile(img, G, T, r, k, decode(model, z), "sweep");
    }
  // Red label pixels only beside the collapsed (second) row.
  int red[2] = {0, 0};
  for (int y = T; y < img.height; ++y)
    for (int x = 0; x < G; ++x) {
      const uint8_t* p = &img.pixels[(static_cast<size_t>(y) * img.width + x) * 3];
      if (p[0] > 150 && p[1] < 80) ++red[(y - T) / (24 + 2) >= 1 ? 1 : 0];
    }
  EXPECT_EQ(red[0], 0);
  EXPECT_GT(red[1], 10);
}

TEST(ManifoldGrid, PriorQuantilesForATwoDimensionalLatent) {
  vae::Vae<float> model = tiny_model(2);
  const int size = 4;
  const vae::Image img = vae::manifold_grid(model, size);
  const std::vector<std::string> labels = {"-1.2", "-0.3", "0.3", "1.2"};
  int widest = vae::text_width("z2\\z1");
  for (const std::string& l : labels) widest = std::max(widest, vae::text_width(l));
  const int G = widest + 6, T = 12;
  EXPECT_EQ(img.width, G + size * 24 + 2 * (size + 1));
  EXPECT_EQ(img.height, T + size * 24 + 2 * (size + 1));
  // Cell (r, c) decodes (Φ⁻¹(p_c), Φ⁻¹(p_{size−1−r})), p_k = (k + ½) / size: the top row has
  // the largest z2.
  for (int r : {0, size - 1})
    for (int c : {0, 2}) {
      const std::vector<float> z = {
          static_cast<float>(vae::normal_quantile((c + 0.5) / size)),
          static_cast<float>(vae::normal_quantile((size - 1 - r + 0.5) / size))};
      expect_tile(img, G, T, r, c, decode(model, z), "quantile grid");
    }
}

TEST(ManifoldGrid, PrincipalDirectionsForLargerLatents) {
  vae::Vae<float> model = tiny_model(3);
  vae::Pca pca;
  pca.mean = {0.5, -0.5, 0.0};
  pca.components = {0, 0, 1, 1, 0, 0};  // v₁ = e₃, v₂ = e₁
  pca.variances = {4.0, 0.25};
  pca.total_variance = 4.5;
  const int size = 3;
  const vae::Image img = vae::manifold_grid(model, size, &pca);
  // Column labels c₁ = Φ⁻¹(p)·2 and row labels c₂ = Φ⁻¹(p)·0.5.
  int widest = vae::text_width("PC2\\PC1");
  for (int k = 0; k < size; ++k) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f", vae::normal_quantile((k + 0.5) / size) * 0.5);
    widest = std::max(widest, vae::text_width(buf));
  }
  const int G = widest + 6, T = 12;
  EXPECT_EQ(img.width, G + size * 24 + 2 * (size + 1));
  const double q0 = vae::normal_quantile(0.5 / size);  // the smallest quantile
  // Bottom-left cell: z = m + q0·2·e₃ + q0·0.5·e₁.
  const std::vector<float> z = {static_cast<float>(0.5 + q0 * 0.5), -0.5f,
                                static_cast<float>(q0 * 2)};
  expect_tile(img, G, T, size - 1, 0, decode(model, z), "PCA grid");
}

TEST(LatentMap, MeansForTwoDimensionsAndPrincipalComponentsBeyond) {
  vae::Dataset data;
  data.n = 40;
  data.d = kD;
  data.x.resize(data.n * kD);
  for (size_t i = 0; i < data.x.size(); ++i) data.x[i] = static_cast<float>((i * 7919) % 101) / 100;
  for (size_t i = 0; i < data.n; ++i) data.labels.push_back(static_cast<int32_t>(i % 3));

  vae::Vae<float> m2 = tiny_model(2);
  const vae::LatentMap a = vae::latent_map(m2, data, 25);
  ASSERT_EQ(a.xy.size(), 50u);
  EXPECT_EQ(a.labels.size(), 25u);
  EXPECT_FALSE(a.from_pca);
  EXPECT_EQ(a.x_label, "z1");
  std::vector<float> mu(2), logvar(2);
  m2.encode(data.row(7), 1, mu.data(), logvar.data());
  EXPECT_NEAR(a.xy[14], mu[0], 1e-5);
  EXPECT_NEAR(a.xy[15], mu[1], 1e-5);

  vae::Vae<float> m3 = tiny_model(3);
  const vae::LatentMap b = vae::latent_map(m3, data, 1000);
  ASSERT_EQ(b.xy.size(), 80u);
  EXPECT_TRUE(b.from_pca);
  EXPECT_EQ(b.x_label.rfind("PC1 (", 0), 0u) << b.x_label;
  // Coordinates along the components are centred, and their variance is the eigenvalue.
  double sum = 0, sq = 0;
  for (size_t i = 0; i < data.n; ++i) {
    sum += b.xy[2 * i];
    sq += static_cast<double>(b.xy[2 * i]) * b.xy[2 * i];
  }
  EXPECT_NEAR(sum / data.n, 0, 1e-5);
  EXPECT_NEAR(sq / data.n, b.pca.variances[0], 1e-4 * std::max(1.0, b.pca.variances[0]));
  EXPECT_GE(b.pca.variances[0], b.pca.variances[1]);

  vae::Vae<float> m1 = tiny_model(1);
  EXPECT_THROW(vae::latent_map(m1, data, 10), vae::Error);
}

TEST(Pictures, RefuseModelsOfNonImageData) {
  vae::ModelConfig c;
  c.input_dim = 5;
  c.hidden = {4};
  c.latent = 2;
  c.height = c.width = c.channels = 0;
  vae::Vae<float> model(c, 8);
  const std::vector<float> z = {0, 0};
  EXPECT_THROW(vae::interpolation_grid(model, z.data(), z.data(), 3), vae::Error);
  EXPECT_THROW(vae::manifold_grid(model, 3), vae::Error);
}

}  // namespace
