// Pictures of what a model learned, and the latent-space geometry behind them: linear and
// spherical paths between codes, the prior's quantile grid, principal directions of the
// encodings, grids of samples and reconstructions, and labelled grids of decoded images
// (interpolations, traversals, manifolds).
//
// Legend: N examples, D values per example, Z latent size, K principal directions,
//         R rows and C columns of a picture grid, (h, w, c) one image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/latent_stats.h"
#include "io/png.h"
#include "vae/dataset.h"
#include "vae/model.h"
#include "viz/canvas.h"

namespace vae {

// ---- Paths between two codes ------------------------------------------------------------------

/// out = (1 − t) a + t b, n values each.
void lerp(float* out, const float* a, const float* b, size_t n, double t);

/// Spherical linear interpolation (Shoemake 1985; for latent codes, White 2016):
///   cos Ω = a·b / (‖a‖ ‖b‖),   slerp(a, b; t) = sin((1 − t) Ω)/sin Ω · a + sin(t Ω)/sin Ω · b.
/// t = 0 gives a and t = 1 gives b. When ‖a‖ = ‖b‖ the whole path keeps that norm (an arc of
/// the great circle through a and b), where lerp would cut through the low-density middle of
/// N(0, I). Falls back to lerp when a or b is zero or sin Ω < 1e-6 (parallel or antiparallel
/// codes, where the arc is not defined). Computed in double.
void slerp(float* out, const float* a, const float* b, size_t n, double t);

// ---- The prior's quantiles --------------------------------------------------------------------

/// Φ⁻¹(p), the standard normal quantile function: Acklam's rational approximation (relative
/// error below 1.2e-9), refined by one Halley step on f(x) = Φ(x) − p, Φ(x) = ½ erfc(−x/√2):
///   u = f(x) / φ(x) = f(x) √(2π) e^{x²/2},   x ← x − u / (1 + x u / 2),
/// which brings it to about 1e-15. Returns −∞ at p = 0, +∞ at p = 1, NaN outside [0, 1].
double normal_quantile(double p);

// ---- Principal directions ---------------------------------------------------------------------

/// The k leading eigenpairs of a symmetric positive semi-definite d×d matrix `sym` (row-major)
/// by power iteration: for each i < k, v ← S v / ‖S v‖ from a fixed start, with the components
/// along the eigenvectors already found projected out each step (deflation), until v moves by
/// less than 1e-13 or after 20000 steps; λ = vᵀ S v. vecs (k, d): unit rows, by decreasing λ,
/// each signed so that its largest-magnitude entry is positive; vals (k). Asserts 1 <= k <= d.
void leading_eigenvectors(double* vecs, double* vals, const double* sym, int d, int k);

struct Pca {
  std::vector<double> mean;        ///< (Z) mean of the rows
  std::vector<double> components;  ///< (K, Z) unit eigenvectors of the covariance, λ decreasing
  std::vector<double> variances;   ///< (K) eigenvalues: the rows' variance along each component
  double total_variance = 0;       ///< trace of the covariance: Σ of all Z variances
};

/// PCA of n rows x (n, d): m = mean, C = (1/n) Σ_i (x_i − m)(x_i − m)ᵀ (d, d), and C's k leading
/// eigenpairs. Asserts n >= 1 and 1 <= k <= d.
Pca principal_components(const float* x, size_t n, int d, int k);

// ---- Class names ------------------------------------------------------------------------------

/// The name of class `label`: names[label] (a checkpoint's class_names) when it has one, else
/// Fashion-MNIST's names (fashion_mnist_class_names) for labels 0..9 when the data spec is
/// "fashion-mnist" (checkpoints from before names were stored); "class N" otherwise.
std::string class_name(const std::vector<std::string>& names, const std::string& data_spec,
                       int label);
inline std::string class_name(const std::string& data_spec, int label) {
  return class_name({}, data_spec, label);
}

// ---- Samples and reconstructions --------------------------------------------------------------

/// Decodes n draws z ~ p(z) (Vae::sample_prior with Rng(seed)) to decoder means σ(logits) and tiles them,
/// `cols` per row. Needs an image model (config().channels > 0). A conditional model gives one
/// row per class instead: row y holds `cols` draws decoded with label y (n is then unused).
Image sample_grid(Vae<float>& model, int n, uint64_t seed, int cols = 8);

/// The first n rows of `data` and their reconstructions σ(decoder(μ(x))) — the posterior mean,
/// no sampling — as pairs of grid rows: `cols` originals above their `cols` reconstructions.
Image reconstruction_grid(Vae<float>& model, const Dataset& data, int n, int cols = 8);

// ---- Labelled grids of images -----------------------------------------------------------------

/// R×C tiles, optionally with text: a label of one or more lines left of each row, one above
/// each column, and one in the top-left corner (naming what the column labels count).
struct TileGrid {
  const float* tiles = nullptr;  ///< (R·C, h, w, c) values in [0, 1], row-major over the grid
  int rows = 0, cols = 0;        ///< R, C
  int height = 0, width = 0, channels = 0;           ///< (h, w, c); c is 1, 3 or 4
  std::vector<std::vector<std::string>> row_labels;  ///< (R) lines each, or empty
  std::vector<Rgb> row_colors;                       ///< (R) label colours, or empty: black
  std::vector<std::string> col_labels;               ///< (C), or empty
  std::string corner;                                ///< top-left text, or empty
};

/// Pixels per image pixel in a labelled grid: s = max(1, ⌈24 / h⌉), so that every tile row is
/// at least 24 pixels high and two lines of label text fit beside it.
int tile_scale(int h);

/// Renders a TileGrid as an RGB image:
///   tiles      each upscaled s = tile_scale(h) times (nearest neighbour) and laid out by
///              make_grid with 2 pixels of white padding: (C·s·w + 2(C + 1)) × (R·s·h + 2(R + 1));
///   gutter     left of the tiles when there are row labels or a corner text:
///              G = max(text_width of every label line and of the corner) + 6 pixels;
///   band       above the tiles when there are column labels or a corner text: T = 12 pixels;
/// so the image is (G + C·s·w + 2(C + 1)) wide and (T + R·s·h + 2(R + 1)) high.
Image render_tile_grid(const TileGrid& grid);

// ---- What the decoder does along paths --------------------------------------------------------

/// Decodes two paths from za to zb (Z each), `steps` >= 2 points each at t = k / (steps − 1):
/// row 0 lerp, row 1 slerp, labelled "linear" and "spherical", columns by t. When xa and xb
/// (D each) are given, the two originals frame both rows (steps + 2 columns), their columns
/// labelled label_a and label_b.
Image interpolation_grid(Vae<float>& model, const float* za, const float* zb, int steps,
                         const float* xa = nullptr, const float* xb = nullptr,
                         const std::string& label_a = "", const std::string& label_b = "");

/// One latent dimension as a traversal shows it.
struct TraversalRow {
  int dim = 0;             ///< j, 0-based (labels say z{j+1})
  double kl = 0;           ///< mean KL(q(z_j|x) ‖ N(0,1)), nats
  double mu_variance = 0;  ///< Var_x μ_j
  bool collapsed = false;  ///< mu_variance <= kActiveUnitThreshold: the posterior ignores x
};

/// Every dimension, by decreasing KL (ties by index), collapsed ones marked.
std::vector<TraversalRow> traversal_order(const LatentStats& stats);

/// One grid row per entry of `rows`: the decoded z = base (Z) with z_j replaced by each of
/// `steps` >= 2 values evenly spaced over [−range, range]. Rows are labelled "z{j+1}" over
/// "KL {kl}"; collapsed rows "z{j+1}" over "collapsed", in red. Columns are labelled by value.
Image traversal_grid(Vae<float>& model, const float* base, const std::vector<TraversalRow>& rows,
                     double range, int steps);

/// The decoded manifold on a size×size grid with probabilities p_k = (k + ½) / size:
///   Z = 2, pca null   z = (Φ⁻¹(p_col), Φ⁻¹(p_row)): the prior's quantiles (Kingma & Welling);
///   Z = 1, pca null   one row, z = Φ⁻¹(p_col);
///   pca (K >= 2)      z = m + Φ⁻¹(p_col) √λ₁ v₁ + Φ⁻¹(p_row) √λ₂ v₂: the same quantiles of the
///                     Gaussian fitted to the encodings along their two leading directions.
/// The top row has the largest second coordinate (up is positive, as in a plot). Columns and
/// rows are labelled with their coordinates. Asserts Z <= 2 when pca is null.
Image manifold_grid(Vae<float>& model, int size, const Pca* pca = nullptr);

// ---- Where the data lie in latent space -------------------------------------------------------

struct LatentMap {
  std::vector<float> xy;         ///< (N, 2): (μ₁, μ₂) when Z = 2, else μ's first two PCs
  std::vector<int32_t> labels;   ///< (N), or empty when the data have none
  std::string x_label, y_label;  ///< "z1", "z2" or "PC1 (38.2% of Var μ)", "PC2 (…)"
  bool from_pca = false;
  Pca pca;  ///< the fit, when from_pca
};

/// Posterior means of the first min(max_points, N) rows of `data`, as 2-D points. Throws
/// vae::Error when Z < 2 (no plane to draw) or the data are empty.
LatentMap latent_map(Vae<float>& model, const Dataset& data, size_t max_points);

}  // namespace vae
