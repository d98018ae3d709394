// Grids of decoded images: samples and reconstructions, and the labelled interpolations,
// traversals and manifolds; and the 2-D map of the encodings.
//
// Legend: N examples, D values per example, Z latent size, R rows and C columns of a grid,
//         S steps along a path, (h, w, c) one image, s the tile upscale factor.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "vae/error.h"
#include "viz/viz.h"

namespace vae {
namespace {

constexpr int kPad = 2;          // white pixels between and around tiles (make_grid's padding)
constexpr int kBand = 12;        // height of the column-label band
constexpr int kGutterExtra = 6;  // gutter = widest label + this
constexpr Rgb kCollapsedColor{200, 30, 30};

std::string format(const char* fmt, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, v);
  // "-0" and "-0.0" read as a sign error on a grid that is symmetric around zero.
  if (std::strcmp(buf, "-0") == 0 || std::strcmp(buf, "-0.0") == 0) return buf + 1;
  return buf;
}

void require_images(const ModelConfig& c) {
  if (c.channels <= 0 || c.height <= 0 || c.width <= 0)
    throw Error("this model was trained on non-image data: there is no picture to draw");
}

// (n, h, w, c) → (n, s·h, s·w, c), each pixel repeated s×s times.
std::vector<float> upscale(const float* tiles, int n, int h, int w, int c, int s) {
  const size_t H = static_cast<size_t>(h) * s, W = static_cast<size_t>(w) * s;
  std::vector<float> out(static_cast<size_t>(n) * H * W * c);  // (n, s·h, s·w, c)
  for (int k = 0; k < n; ++k)
    for (size_t y = 0; y < H; ++y)
      for (size_t x = 0; x < W; ++x)
        for (int ch = 0; ch < c; ++ch)
          out[((k * H + y) * W + x) * c + ch] =
              tiles[((static_cast<size_t>(k) * h + y / s) * w + x / s) * c + ch];
  return out;
}

}  // namespace

int tile_scale(int h) { return std::max(1, (24 + h - 1) / h); }

Image render_tile_grid(const TileGrid& g) {
  VAE_ASSERT(g.tiles != nullptr && g.rows >= 1 && g.cols >= 1);
  VAE_ASSERT(g.height >= 1 && g.width >= 1);
  VAE_ASSERT(g.channels == 1 || g.channels == 3 || g.channels == 4);
  VAE_ASSERT(g.row_labels.empty() || g.row_labels.size() == static_cast<size_t>(g.rows));
  VAE_ASSERT(g.row_colors.empty() || g.row_colors.size() == static_cast<size_t>(g.rows));
  VAE_ASSERT(g.col_labels.empty() || g.col_labels.size() == static_cast<size_t>(g.cols));
  const int s = tile_scale(g.height);
  const int th = s * g.height, tw = s * g.width;  // one tile on screen
  const std::vector<float> up = upscale(g.tiles, g.rows * g.cols, g.height, g.width, g.channels, s);
  const Image tiles = make_grid(up.data(), g.rows * g.cols, th, tw, g.channels, g.cols, kPad);

  int widest = text_width(g.corner);
  for (const auto& lines : g.row_labels)
    for (const std::string& line : lines) widest = std::max(widest, text_width(line));
  const bool gutter = !g.row_labels.empty() || !g.corner.empty();
  const bool band = !g.col_labels.empty() || !g.corner.empty();
  const int G = gutter ? widest + kGutterExtra : 0;
  const int T = band ? kBand : 0;

  Canvas canvas(G + tiles.width, T + tiles.height);
  canvas.blit(G, T, tiles);
  if (!g.corner.empty()) canvas.draw_text(3, 2, g.corner, kBlack);
  for (int c = 0; c < static_cast<int>(g.col_labels.size()); ++c) {
    const int cx = G + kPad + c * (tw + kPad) + tw / 2;
    canvas.draw_text(cx - text_width(g.col_labels[c]) / 2, 2, g.col_labels[c], kBlack);
  }
  for (int r = 0; r < static_cast<int>(g.row_labels.size()); ++r) {
    const auto& lines = g.row_labels[r];
    const int n = static_cast<int>(lines.size());
    const int block = n * kLineHeight - (kLineHeight - kGlyphHeight);  // no gap after the last
    const int cy = T + kPad + r * (th + kPad) + th / 2;
    const Rgb color = g.row_colors.empty() ? kBlack : g.row_colors[r];
    for (int i = 0; i < n; ++i)
      canvas.draw_text(G - 3 - text_width(lines[i]), cy - block / 2 + i * kLineHeight, lines[i],
                       color);
  }
  return canvas.image();
}

Image sample_grid(Vae<float>& model, int n, uint64_t seed, int cols) {
  const ModelConfig& c = model.config();
  require_images(c);
  VAE_ASSERT(n >= 1);
  Rng rng(seed);
  std::vector<int32_t> labels;  // (n) one row of `cols` per class, for a conditional model
  if (c.num_classes > 0) {
    n = c.num_classes * cols;
    for (int i = 0; i < n; ++i) labels.push_back(i / cols);
  }
  std::vector<float> z(static_cast<size_t>(n) * c.latent);     // (n, Z)
  std::vector<float> x(static_cast<size_t>(n) * c.input_dim);  // (n, D)
  model.sample_prior(z.data(), n, rng);  // z ~ p(z)
  model.decode(z.data(), n, x.data(), labels.empty() ? nullptr : labels.data());
  return make_grid(x.data(), n, c.height, c.width, c.channels, std::min(cols, n));
}

Image reconstruction_grid(Vae<float>& model, const Dataset& data, int n, int cols) {
  const ModelConfig& c = model.config();
  require_images(c);
  VAE_ASSERT(data.d == static_cast<size_t>(c.input_dim));
  n = static_cast<int>(std::min<size_t>(n, data.n));
  VAE_ASSERT(n >= 1);
  cols = std::min(cols, n);
  const size_t D = c.input_dim, Z = c.latent;
  std::vector<float> mu(n * Z), logvar(n * Z), recon(n * D);  // (n, Z), (n, Z), (n, D)
  model.encode(data.row(0), n, mu.data(), logvar.data(), data.label_ptr(0));
  model.decode(mu.data(), n, recon.data(), data.label_ptr(0));
  // Interleave rows of the grid: originals [k*cols, (k+1)*cols), then their reconstructions.
  const int pairs = (n + cols - 1) / cols;
  std::vector<float> tiles(static_cast<size_t>(2 * pairs * cols) * D, 1.0f);  // blank = white
  for (int k = 0; k < pairs; ++k)
    for (int j = 0; j < cols; ++j) {
      const int i = k * cols + j;
      if (i >= n) break;
      std::memcpy(&tiles[(static_cast<size_t>(2 * k) * cols + j) * D], data.row(i),
                  sizeof(float) * D);
      std::memcpy(&tiles[(static_cast<size_t>(2 * k + 1) * cols + j) * D], &recon[i * D],
                  sizeof(float) * D);
    }
  return make_grid(tiles.data(), 2 * pairs * cols, c.height, c.width, c.channels, cols);
}

Image interpolation_grid(Vae<float>& model, const float* za, const float* zb, int steps,
                         const float* xa, const float* xb, const std::string& label_a,
                         const std::string& label_b) {
  const ModelConfig& m = model.config();
  require_images(m);
  VAE_ASSERT(steps >= 2);
  VAE_ASSERT((xa == nullptr) == (xb == nullptr));
  const size_t Z = m.latent, D = m.input_dim;
  const bool framed = xa != nullptr;
  const int C = steps + (framed ? 2 : 0);
  std::vector<float> z(2 * steps * Z);        // (2, S, Z): lerp path, then slerp path
  std::vector<float> decoded(2 * steps * D);  // (2, S, D)
  for (int k = 0; k < steps; ++k) {
    const double t = static_cast<double>(k) / (steps - 1);
    lerp(&z[k * Z], za, zb, Z, t);
    slerp(&z[(steps + k) * Z], za, zb, Z, t);
  }
  model.decode(z.data(), 2 * steps, decoded.data());
  std::vector<float> tiles(2 * C * D);  // (2, C, D)
  for (int r = 0; r < 2; ++r) {
    float* row = &tiles[r * C * D];
    if (framed) {
      std::memcpy(row, xa, D * sizeof(float));
      std::memcpy(row + (C - 1) * D, xb, D * sizeof(float));
    }
    std::memcpy(row + (framed ? D : 0), &decoded[r * steps * D], steps * D * sizeof(float));
  }
  TileGrid g;
  g.tiles = tiles.data();
  g.rows = 2;
  g.cols = C;
  g.height = m.height;
  g.width = m.width;
  g.channels = m.channels;
  g.row_labels = {{"linear"}, {"spherical"}};
  if (framed) g.col_labels.push_back(label_a);
  for (int k = 0; k < steps; ++k) g.col_labels.push_back(format("%.2g", k / double(steps - 1)));
  if (framed) g.col_labels.push_back(label_b);
  g.corner = "t =";
  return render_tile_grid(g);
}

std::vector<TraversalRow> traversal_order(const LatentStats& stats) {
  std::vector<TraversalRow> rows(stats.kl_per_dim.size());
  for (size_t j = 0; j < rows.size(); ++j) {
    rows[j].dim = static_cast<int>(j);
    rows[j].kl = stats.kl_per_dim[j];
    rows[j].mu_variance = stats.mu_variance[j];
    rows[j].collapsed = stats.mu_variance[j] <= kActiveUnitThreshold;
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const TraversalRow& a, const TraversalRow& b) { return a.kl > b.kl; });
  return rows;
}

Image traversal_grid(Vae<float>& model, const float* base, const std::vector<TraversalRow>& rows,
                     double range, int steps) {
  const ModelConfig& m = model.config();
  require_images(m);
  VAE_ASSERT(steps >= 2 && range > 0 && !rows.empty());
  const size_t Z = m.latent, D = m.input_dim, R = rows.size();
  std::vector<float> z(R * steps * Z);        // (R, S, Z)
  std::vector<float> decoded(R * steps * D);  // (R, S, D)
  TileGrid g;
  for (size_t r = 0; r < R; ++r) {
    const int j = rows[r].dim;
    VAE_ASSERT(j >= 0 && static_cast<size_t>(j) < Z);
    for (int k = 0; k < steps; ++k) {
      float* zk = &z[(r * steps + k) * Z];
      std::memcpy(zk, base, Z * sizeof(float));
      zk[j] = static_cast<float>(-range + 2.0 * range * k / (steps - 1));
    }
    const std::string name = "z" + std::to_string(j + 1);
    g.row_labels.push_back(rows[r].collapsed
                               ? std::vector<std::string>{name, "collapsed"}
                               : std::vector<std::string>{name, format("KL %.2f", rows[r].kl)});
    g.row_colors.push_back(rows[r].collapsed ? kCollapsedColor : kBlack);
  }
  model.decode(z.data(), R * steps, decoded.data());
  for (int k = 0; k < steps; ++k)
    g.col_labels.push_back(format("%.2g", -range + 2.0 * range * k / (steps - 1)));
  g.tiles = decoded.data();
  g.rows = static_cast<int>(R);
  g.cols = steps;
  g.height = m.height;
  g.width = m.width;
  g.channels = m.channels;
  g.corner = "z_j =";
  return render_tile_grid(g);
}

Image manifold_grid(Vae<float>& model, int size, const Pca* pca) {
  const ModelConfig& m = model.config();
  require_images(m);
  VAE_ASSERT(size >= 1);
  const size_t Z = m.latent, D = m.input_dim;
  VAE_ASSERT(pca != nullptr || Z <= 2);
  VAE_ASSERT(pca == nullptr || (pca->mean.size() == Z && pca->variances.size() >= 2));
  const int R = (pca == nullptr && Z == 1) ? 1 : size;
  // Quantiles of N(0, 1) at p_k = (k + ½) / size; the coordinates each axis shows.
  std::vector<double> q(size), c1(size), c2(size);  // (size) each
  for (int k = 0; k < size; ++k) q[k] = normal_quantile((k + 0.5) / size);
  const double s1 = pca ? std::sqrt(std::max(0.0, pca->variances[0])) : 1.0;
  const double s2 = pca ? std::sqrt(std::max(0.0, pca->variances[1])) : 1.0;
  for (int k = 0; k < size; ++k) {
    c1[k] = q[k] * s1;
    c2[k] = q[k] * s2;
  }
  std::vector<float> z(static_cast<size_t>(R) * size * Z, 0.0f);  // (R, C, Z)
  std::vector<float> decoded(static_cast<size_t>(R) * size * D);  // (R, C, D)
  for (int r = 0; r < R; ++r) {
    const int rk = size - 1 - r;  // top row: the largest second coordinate
    for (int c = 0; c < size; ++c) {
      float* zc = &z[(static_cast<size_t>(r) * size + c) * Z];
      if (pca == nullptr) {
        zc[0] = static_cast<float>(c1[c]);
        if (Z == 2) zc[1] = static_cast<float>(c2[rk]);
      } else {
        // z = m + c₁ v₁ + c₂ v₂
        for (size_t j = 0; j < Z; ++j)
          zc[j] = static_cast<float>(pca->mean[j] + c1[c] * pca->components[j] +
                                     c2[rk] * pca->components[Z + j]);
      }
    }
  }
  model.decode(z.data(), static_cast<size_t>(R) * size, decoded.data());
  TileGrid g;
  g.tiles = decoded.data();
  g.rows = R;
  g.cols = size;
  g.height = m.height;
  g.width = m.width;
  g.channels = m.channels;
  for (int c = 0; c < size; ++c) g.col_labels.push_back(format("%.1f", c1[c]));
  if (R > 1)
    for (int r = 0; r < R; ++r) g.row_labels.push_back({format("%.1f", c2[size - 1 - r])});
  g.corner = pca ? "PC2\\PC1" : (Z == 2 ? "z2\\z1" : "z1");
  return render_tile_grid(g);
}

LatentMap latent_map(Vae<float>& model, const Dataset& data, size_t max_points) {
  const size_t Z = model.config().latent;
  if (Z < 2)
    throw Error("latent map: the model has 1 latent dimension; a 2-D map needs at least 2");
  if (data.n == 0 || max_points == 0) throw Error("latent map: no examples to encode");
  VAE_ASSERT(data.d == static_cast<size_t>(model.config().input_dim));
  const size_t n = std::min(max_points, data.n);
  std::vector<float> mu(n * Z), logvar(n * Z);  // (N, Z) each
  model.encode(data.row(0), n, mu.data(), logvar.data(), data.label_ptr(0));
  LatentMap map;
  map.xy.resize(n * 2);  // (N, 2)
  if (!data.labels.empty()) map.labels.assign(data.labels.begin(), data.labels.begin() + n);
  if (Z == 2) {
    map.xy = mu;
    map.x_label = "z1";
    map.y_label = "z2";
    return map;
  }
  map.from_pca = true;
  map.pca = principal_components(mu.data(), n, static_cast<int>(Z), 2);
  // Coordinates along the components, from the mean: (μ − m)·v_k.
  for (size_t i = 0; i < n; ++i)
    for (int k = 0; k < 2; ++k) {
      double s = 0;
      for (size_t j = 0; j < Z; ++j)
        s += (mu[i * Z + j] - map.pca.mean[j]) * map.pca.components[k * Z + j];
      map.xy[i * 2 + k] = static_cast<float>(s);
    }
  auto share = [&](int k) {
    const double t = map.pca.total_variance;
    return t > 0 ? format("%.1f", 100.0 * map.pca.variances[k] / t) : std::string("0");
  };
  map.x_label = "PC1 (" + share(0) + "% of Var \u03bc)";
  map.y_label = "PC2 (" + share(1) + "% of Var \u03bc)";
  return map;
}

}  // namespace vae
