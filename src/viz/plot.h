// Plots with labelled axes and a legend, drawn two ways from one description: as SVG text (real
// text, for the report and for .svg files) and as a PNG image (text in the bitmap font of
// src/viz/canvas.h). Both renderers share one layout, so the two pictures agree.
//
//   Figure   a title, panels side by side, one legend (right) for every named series
//   Panel    a title, x and y axis labels, ticks at "nice" numbers (1, 2 or 5 × 10ⁿ) or given
//            categorical ticks, light grid lines, and its series
//   Series   lines (with markers when short), points (scatter, translucent) or bars
//
// Legend: N points of a series, E epochs, Z latent size.
#pragma once

#include <string>
#include <vector>

#include "eval/latent_stats.h"
#include "io/png.h"
#include "vae/trainer.h"
#include "viz/canvas.h"
#include "viz/viz.h"

namespace vae {

struct Series {
  enum class Kind { Line, Points, Bars };
  Kind kind = Kind::Line;
  std::string name;  ///< legend entry; empty: not in the legend
  Rgb color{31, 119, 180};
  std::vector<double> x, y;  ///< (N) each; non-finite points are skipped
  double radius = 2.0;       ///< Points: circle radius in pixels
  double opacity = 1.0;      ///< Points: alpha
  double bar_width = 0.8;    ///< Bars: width in x units, centred on x
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  /// Categorical x ticks (value, label), replacing the automatic ones; labels are thinned to
  /// every k-th when they would overlap.
  std::vector<std::pair<double, std::string>> x_ticks;
  bool y_from_zero = false;  ///< include 0 in the y range (bars, losses)
  bool x_integer = false;    ///< automatic x ticks at integers only (epochs)
};

struct Figure {
  std::string title;
  std::vector<Panel> panels;
  int width = 720, height = 420;  ///< pixels (SVG user units)
};

/// The figure as a standalone SVG document: it begins with "<svg", declares the SVG namespace,
/// width, height and viewBox, and holds only escaped text. Embeddable inline in HTML.
std::string figure_svg(const Figure& fig);

/// Escapes & < > " ' for XML and HTML text and attribute values.
std::string xml_escape(const std::string& s);

/// The figure as an RGB image of fig.width × fig.height pixels.
Image figure_png(const Figure& fig);

/// Tick positions covering [lo, hi]: multiples of a step of 1, 2 or 5 × 10ⁿ chosen so that
/// about `target` ticks fall inside; only integers when `integer` (steps >= 1).
std::vector<double> nice_ticks(double lo, double hi, int target = 5, bool integer = false);

/// A tick value as text, with as many decimals as the step needs ("0.2", "250", "0.005");
/// values within 1e-9 steps of zero print as "0". 1e6 and beyond print in %g form.
std::string format_tick(double v, double step);

/// Colour k of a ten-colour categorical palette (matplotlib's tab10); later k cycle darker.
Rgb category_color(int k);

// ---- The plots of a run -----------------------------------------------------------------------

/// Three panels over epochs — −ELBO, reconstruction and KL — each with train and test lines.
/// Asserts metrics is non-empty.
Figure loss_curves_figure(const std::vector<EpochMetrics>& metrics);

/// Per-dimension KL(q(z_j|x) ‖ N(0,1)) as bars, z1..zZ in order, active and collapsed
/// (Var μ_j <= 0.01) dimensions in two colours.
Figure kl_bars_figure(const LatentStats& stats);

/// The encodings as a scatter, one colour per class with the classes named (class_name of
/// `data_spec`); one series named "examples" when the data have no labels.
Figure latent_scatter_figure(const LatentMap& map, const std::string& data_spec,
                             const std::vector<std::string>& class_names = {});

}  // namespace vae
