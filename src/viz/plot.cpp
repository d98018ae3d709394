// Figures: one layout pass (draw_figure) over a Painter, with two painters — SVG text and a
// raster Canvas — so that the SVG and the PNG of a figure are the same picture.
//
// Legend: N points of a series, P panels, E epochs, Z latent size.
#include "viz/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "vae/error.h"

namespace vae {
namespace {

enum class Anchor { Start, Middle, End };
enum class TextSize { Tick, Label, Title };

// The drawing primitives a figure needs. Coordinates in pixels; a text's y is its vertical
// centre (for upward text, x is its horizontal centre and y the centre along its length).
class Painter {
 public:
  virtual ~Painter() = default;
  virtual void line(double x0, double y0, double x1, double y1, Rgb c, double width) = 0;
  virtual void polyline(const std::vector<double>& xy, Rgb c, double width) = 0;  // (N, 2)
  virtual void rect(double x, double y, double w, double h, Rgb fill) = 0;
  virtual void frame(double x, double y, double w, double h, Rgb c) = 0;
  virtual void points(const std::vector<double>& xy, double r, Rgb c, double opacity) = 0;
  virtual void text(double x, double y, const std::string& s, TextSize size, Anchor a, Rgb c,
                    bool up = false) = 0;
  virtual double text_w(const std::string& s, TextSize size) const = 0;
};

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return std::string(buf) == "-0.0" ? "0.0" : buf;
}

class SvgPainter : public Painter {
 public:
  std::string body;

  void line(double x0, double y0, double x1, double y1, Rgb c, double width) override {
    body += "<line x1=\"" + num(x0) + "\" y1=\"" + num(y0) + "\" x2=\"" + num(x1) + "\" y2=\"" +
            num(y1) + "\" stroke=\"" + hex(c) + "\" stroke-width=\"" + num(width) + "\"/>\n";
  }
  void polyline(const std::vector<double>& xy, Rgb c, double width) override {
    body += "<polyline fill=\"none\" stroke=\"" + hex(c) + "\" stroke-width=\"" + num(width) +
            "\" stroke-linejoin=\"round\" points=\"";
    for (size_t i = 0; i + 1 < xy.size(); i += 2)
      body += (i ? " " : "") + num(xy[i]) + "," + num(xy[i + 1]);
    body += "\"/>\n";
  }
  void rect(double x, double y, double w, double h, Rgb fill) override {
    body += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
            num(h) + "\" fill=\"" + hex(fill) + "\"/>\n";
  }
  void frame(double x, double y, double w, double h, Rgb c) override {
    body += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" +
            num(h) + "\" fill=\"none\" stroke=\"" + hex(c) + "\"/>\n";
  }
  void points(const std::vector<double>& xy, double r, Rgb c, double opacity) override {
    char op[16];
    std::snprintf(op, sizeof op, "%.2f", opacity);
    body += "<g fill=\"" + hex(c) + "\" fill-opacity=\"" + op + "\">";
    for (size_t i = 0; i + 1 < xy.size(); i += 2)
      body +=
          "<circle cx=\"" + num(xy[i]) + "\" cy=\"" + num(xy[i + 1]) + "\" r=\"" + num(r) + "\"/>";
    body += "</g>\n";
  }
  void text(double x, double y, const std::string& s, TextSize size, Anchor a, Rgb c,
            bool up) override {
    const char* anchor = a == Anchor::Start ? "start" : a == Anchor::Middle ? "middle" : "end";
    body += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" +
            std::to_string(px(size)) + "\" text-anchor=\"" + anchor +
            "\" dominant-baseline=\"central\" fill=\"" + hex(c) + "\"";
    if (size == TextSize::Title) body += " font-weight=\"bold\"";
    if (up) body += " transform=\"rotate(-90 " + num(x) + " " + num(y) + ")\"";
    body += ">" + xml_escape(s) + "</text>\n";
  }
  double text_w(const std::string& s, TextSize size) const override {
    // Average advance of a sans-serif face: about 0.58 em per character (code points counted).
    size_t chars = 0;
    for (unsigned char ch : s) chars += (ch & 0xC0) != 0x80;
    return 0.58 * px(size) * static_cast<double>(chars);
  }

 private:
  static int px(TextSize s) { return s == TextSize::Tick ? 11 : s == TextSize::Label ? 12 : 15; }
};

class CanvasPainter : public Painter {
 public:
  explicit CanvasPainter(Canvas& c) : canvas_(c) {}

  void line(double x0, double y0, double x1, double y1, Rgb c, double width) override {
    canvas_.draw_line(x0, y0, x1, y1, c, std::max(1, static_cast<int>(std::lround(width))));
  }
  void polyline(const std::vector<double>& xy, Rgb c, double width) override {
    for (size_t i = 0; i + 3 < xy.size(); i += 2)
      line(xy[i], xy[i + 1], xy[i + 2], xy[i + 3], c, width);
  }
  void rect(double x, double y, double w, double h, Rgb fill) override {
    const int x0 = static_cast<int>(std::lround(x)), y0 = static_cast<int>(std::lround(y));
    canvas_.fill_rect(x0, y0, static_cast<int>(std::lround(x + w)) - x0,
                      static_cast<int>(std::lround(y + h)) - y0, fill);
  }
  void frame(double x, double y, double w, double h, Rgb c) override {
    canvas_.stroke_rect(static_cast<int>(std::lround(x)), static_cast<int>(std::lround(y)),
                        static_cast<int>(std::lround(w)) + 1, static_cast<int>(std::lround(h)) + 1,
                        c);
  }
  void points(const std::vector<double>& xy, double r, Rgb c, double opacity) override {
    for (size_t i = 0; i + 1 < xy.size(); i += 2)
      canvas_.fill_circle(xy[i], xy[i + 1], r, c, opacity);
  }
  void text(double x, double y, const std::string& s, TextSize size, Anchor a, Rgb c,
            bool up) override {
    const int scale = title_scale(s, size);
    const double w = text_width(s, scale);
    const double start = a == Anchor::Start ? 0 : a == Anchor::Middle ? -w / 2 : -w;
    // Capitals fill glyph rows 0..6: their middle is 3.5 rows below the top.
    if (up)
      canvas_.draw_text_up(static_cast<int>(std::lround(x - 3.5 * scale)),
                           static_cast<int>(std::lround(y - start)), s, c, scale);
    else
      canvas_.draw_text(static_cast<int>(std::lround(x + start)),
                        static_cast<int>(std::lround(y - 3.5 * scale)), s, c, scale);
  }
  double text_w(const std::string& s, TextSize size) const override {
    return text_width(s, title_scale(s, size));
  }

 private:
  // Titles are drawn twice the size when they fit across the canvas with 10 pixels to spare.
  int title_scale(const std::string& s, TextSize size) const {
    return size == TextSize::Title && text_width(s, 2) + 20 <= canvas_.width() ? 2 : 1;
  }

  Canvas& canvas_;
};

constexpr Rgb kAxisColor{110, 110, 110};
constexpr Rgb kGridColor{232, 232, 232};
constexpr Rgb kTextColor{30, 30, 30};

struct Range {
  double lo = 0, hi = 1;
};

bool finite_point(const Series& s, size_t i) {
  return std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
}

// The data ranges of a panel, padded: 5% of the span each side (none below 0 when the data
// start at 0 and y_from_zero), half a bar each side for bars.
void panel_ranges(const Panel& p, Range* xr, Range* yr) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  double half_bar = 0;
  for (const Series& s : p.series) {
    VAE_ASSERT(s.x.size() == s.y.size());
    if (s.kind == Series::Kind::Bars) half_bar = std::max(half_bar, s.bar_width / 2);
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!finite_point(s, i)) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]);
      y1 = std::max(y1, s.y[i]);
    }
  }
  for (const auto& t : p.x_ticks) {
    x0 = std::min(x0, t.first);
    x1 = std::max(x1, t.first);
  }
  if (!(x0 <= x1)) x0 = 0, x1 = 1;
  if (!(y0 <= y1)) y0 = 0, y1 = 1;
  if (p.y_from_zero) y0 = std::min(y0, 0.0), y1 = std::max(y1, 0.0);
  if (x1 - x0 == 0) x0 -= 1, x1 += 1;
  if (y1 - y0 == 0) y0 -= 1, y1 += 1;
  const double xs = x1 - x0, ys = y1 - y0;
  xr->lo = x0 - (half_bar > 0 ? half_bar + 0.2 : 0.05 * xs);
  xr->hi = x1 + (half_bar > 0 ? half_bar + 0.2 : 0.05 * xs);
  yr->lo = (p.y_from_zero && y0 == 0) ? 0 : y0 - 0.05 * ys;
  yr->hi = y1 + 0.05 * ys;
}

struct LegendEntry {
  std::string name;
  Rgb color;
  Series::Kind kind;
};

std::vector<LegendEntry> legend_entries(const Figure& fig) {
  std::vector<LegendEntry> out;
  std::set<std::string> seen;
  for (const Panel& p : fig.panels)
    for (const Series& s : p.series)
      if (!s.name.empty() && seen.insert(s.name).second) out.push_back({s.name, s.color, s.kind});
  return out;
}

void draw_panel(Painter& pt, const Panel& p, double px, double pw, double top, double bottom) {
  Range xr, yr;
  panel_ranges(p, &xr, &yr);
  const bool categorical = !p.x_ticks.empty();
  const std::vector<double> yt = nice_ticks(yr.lo, yr.hi, 5);
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : std::max(std::fabs(yt[0]), 1.0);
  double ytick_w = 0;
  for (double v : yt) ytick_w = std::max(ytick_w, pt.text_w(format_tick(v, ystep), TextSize::Tick));
  // The plot area inside the panel: room left for the y label and tick labels, below for the
  // x tick labels and x label, above for the panel title.
  const double left = px + 22 + ytick_w + 8, right = px + pw - 14;
  const double y_top = top + (p.title.empty() ? 8 : 26), y_bottom = bottom - 42;
  const double w = right - left, h = y_bottom - y_top;
  auto sx = [&](double x) { return left + (x - xr.lo) / (xr.hi - xr.lo) * w; };
  auto sy = [&](double y) { return y_bottom - (y - yr.lo) / (yr.hi - yr.lo) * h; };

  if (!p.title.empty())
    pt.text(left + w / 2, top + 12, p.title, TextSize::Label, Anchor::Middle, kTextColor);
  // Grid lines and tick labels.
  for (double v : yt) {
    const double y = sy(v);
    pt.line(left, y, right, y, kGridColor, 1);
    pt.text(left - 6, y, format_tick(v, ystep), TextSize::Tick, Anchor::End, kTextColor);
  }
  std::vector<std::pair<double, std::string>> xt = p.x_ticks;
  if (!categorical) {
    const std::vector<double> v =
        nice_ticks(xr.lo, xr.hi, std::max(2, static_cast<int>(w / 90)), p.x_integer);
    const double step = v.size() > 1 ? v[1] - v[0] : 1.0;
    for (double x : v) xt.emplace_back(x, format_tick(x, step));
  }
  // Thin labels to every k-th when they would overlap (each needs its width plus 6 pixels).
  double label_w = 0;
  for (const auto& t : xt) label_w = std::max(label_w, pt.text_w(t.second, TextSize::Tick) + 6);
  const size_t every =
      xt.empty() ? 1 : std::max<size_t>(1, static_cast<size_t>(std::ceil(label_w * xt.size() / w)));
  for (size_t i = 0; i < xt.size(); ++i) {
    const double x = sx(xt[i].first);
    if (!categorical) pt.line(x, y_top, x, y_bottom, kGridColor, 1);
    pt.line(x, y_bottom, x, y_bottom + 4, kAxisColor, 1);
    if (i % every == 0)
      pt.text(x, y_bottom + 12, xt[i].second, TextSize::Tick, Anchor::Middle, kTextColor);
  }
  // Series: bars first, then points, then lines on top.
  for (Series::Kind kind : {Series::Kind::Bars, Series::Kind::Points, Series::Kind::Line})
    for (const Series& s : p.series) {
      if (s.kind != kind) continue;
      std::vector<double> xy;  // (N, 2) in pixels
      for (size_t i = 0; i < s.x.size(); ++i)
        if (finite_point(s, i)) {
          xy.push_back(sx(s.x[i]));
          xy.push_back(sy(s.y[i]));
        }
      if (kind == Series::Kind::Bars) {
        const double base = sy(std::clamp(0.0, yr.lo, yr.hi));
        const double bw = s.bar_width / (xr.hi - xr.lo) * w;
        for (size_t i = 0; i + 1 < xy.size(); i += 2)
          pt.rect(xy[i] - bw / 2, std::min(xy[i + 1], base), bw, std::fabs(base - xy[i + 1]),
                  s.color);
      } else if (kind == Series::Kind::Points) {
        pt.points(xy, s.radius, s.color, s.opacity);
      } else {
        pt.polyline(xy, s.color, 2);
        if (xy.size() / 2 <= 40) pt.points(xy, 3, s.color, 1.0);
      }
    }
  pt.frame(left, y_top, w, h, kAxisColor);
  if (!p.x_label.empty())
    pt.text(left + w / 2, y_bottom + 30, p.x_label, TextSize::Label, Anchor::Middle, kTextColor);
  if (!p.y_label.empty())
    pt.text(px + 10, y_top + h / 2, p.y_label, TextSize::Label, Anchor::Middle, kTextColor, true);
}

void draw_figure(Painter& pt, const Figure& fig) {
  VAE_ASSERT(!fig.panels.empty() && fig.width > 0 && fig.height > 0);
  const double title_h = fig.title.empty() ? 6 : 30;
  if (!fig.title.empty())
    pt.text(fig.width / 2.0, 16, fig.title, TextSize::Title, Anchor::Middle, kTextColor);
  const std::vector<LegendEntry> legend = legend_entries(fig);
  double legend_w = 0;
  for (const LegendEntry& e : legend)
    legend_w = std::max(legend_w, pt.text_w(e.name, TextSize::Label));
  if (!legend.empty()) legend_w += 40;
  const double pw = (fig.width - legend_w) / static_cast<double>(fig.panels.size());
  for (size_t k = 0; k < fig.panels.size(); ++k)
    draw_panel(pt, fig.panels[k], k * pw, pw, title_h, fig.height);
  // Legend: a swatch in the series' style, then its name, one entry per 18 pixels.
  const double lx = fig.width - legend_w + 6;
  for (size_t i = 0; i < legend.size(); ++i) {
    const double y = title_h + 30 + 18.0 * i;
    const LegendEntry& e = legend[i];
    if (e.kind == Series::Kind::Line) {
      pt.line(lx, y, lx + 20, y, e.color, 2);
      pt.points({lx + 10, y}, 3, e.color, 1.0);
    } else if (e.kind == Series::Kind::Points) {
      pt.points({lx + 10, y}, 4.5, e.color, 1.0);
    } else {
      pt.rect(lx + 4, y - 6, 12, 12, e.color);
    }
    pt.text(lx + 28, y, e.name, TextSize::Label, Anchor::Start, kTextColor);
  }
}

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target, bool integer) {
  VAE_ASSERT(target >= 1);
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {std::isfinite(lo) ? lo : 0};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;  // in [1, 10)
  double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  if (integer) step = std::max(1.0, std::round(step));
  std::vector<double> ticks;
  for (double k = std::ceil(lo / step); k * step <= hi + 1e-9 * step; k += 1) {
    const double v = k * step;
    ticks.push_back(std::fabs(v) < 1e-9 * step ? 0.0 : v);
  }
  if (ticks.empty()) ticks.push_back(lo);
  return ticks;
}

std::string format_tick(double v, double step) {
  char buf[40];
  if (std::fabs(v) < 1e-9 * std::fabs(step)) return "0";
  if (std::fabs(v) >= 1e6) {
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  const int decimals =
      step > 0 ? std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 9) : 3;
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

Rgb category_color(int k) {
  static const Rgb kTab10[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                               {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                               {188, 189, 34},  {23, 190, 207}};
  const Rgb c = kTab10[((k % 10) + 10) % 10];
  const double dim = std::pow(0.7, std::max(0, k) / 10);
  return {static_cast<uint8_t>(c.r * dim), static_cast<uint8_t>(c.g * dim),
          static_cast<uint8_t>(c.b * dim)};
}

std::string figure_svg(const Figure& fig) {
  SvgPainter pt;
  draw_figure(pt, fig);
  const std::string w = std::to_string(fig.width), h = std::to_string(fig.height);
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h +
         "\" viewBox=\"0 0 " + w + " " + h +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n" + "<title>" +
         xml_escape(fig.title) + "</title>\n<rect width=\"" + w + "\" height=\"" + h +
         "\" fill=\"#ffffff\"/>\n" + pt.body + "</svg>\n";
}

Image figure_png(const Figure& fig) {
  Canvas canvas(fig.width, fig.height);
  CanvasPainter pt(canvas);
  draw_figure(pt, fig);
  return canvas.image();
}

Figure loss_curves_figure(const std::vector<EpochMetrics>& metrics) {
  VAE_ASSERT(!metrics.empty());
  struct Part {
    const char* title;
    double EpochMetrics::*train;
    double EpochMetrics::*test;
  };
  const Part parts[] = {{"\u2212ELBO", &EpochMetrics::train_loss, &EpochMetrics::test_loss},
                        {"reconstruction", &EpochMetrics::train_recon, &EpochMetrics::test_recon},
                        {"KL", &EpochMetrics::train_kl, &EpochMetrics::test_kl}};
  Figure fig;
  fig.title = "Loss per epoch (nats per example)";
  fig.width = 1000;
  fig.height = 340;
  for (const Part& part : parts) {
    Panel p;
    p.title = part.title;
    p.x_label = "epoch";
    p.y_label = "nats per example";
    p.x_integer = true;
    p.y_from_zero = part.train == &EpochMetrics::train_kl;
    Series train, test;
    train.name = "train";
    train.color = category_color(0);
    test.name = metrics.back().on_val ? "validation" : "test";
    test.color = category_color(1);
    for (const EpochMetrics& m : metrics) {
      train.x.push_back(static_cast<double>(m.epoch));
      train.y.push_back(m.*part.train);
      test.x.push_back(static_cast<double>(m.epoch));
      test.y.push_back(m.*part.test);
    }
    p.series = {train, test};
    fig.panels.push_back(p);
  }
  return fig;
}

Figure kl_bars_figure(const LatentStats& stats) {
  const size_t Z = stats.kl_per_dim.size();
  Series active, collapsed;
  active.kind = collapsed.kind = Series::Kind::Bars;
  active.name = "active (Var \u03bc > 0.01)";
  active.color = category_color(0);
  collapsed.name = "collapsed";
  collapsed.color = {170, 170, 170};
  Panel p;
  p.x_label = "latent dimension j";
  p.y_label = "KL (nats)";
  p.y_from_zero = true;
  for (size_t j = 0; j < Z; ++j) {
    Series& s = stats.mu_variance[j] > kActiveUnitThreshold ? active : collapsed;
    s.x.push_back(static_cast<double>(j + 1));
    s.y.push_back(stats.kl_per_dim[j]);
    p.x_ticks.emplace_back(static_cast<double>(j + 1), std::to_string(j + 1));
  }
  for (Series* s : {&active, &collapsed})
    if (!s->x.empty()) p.series.push_back(*s);
  Figure fig;
  fig.title = "KL per latent dimension: " + std::to_string(stats.active_units) + " of " +
              std::to_string(Z) + " active";
  fig.width = 760;
  fig.height = 320;
  fig.panels = {p};
  return fig;
}

Figure latent_scatter_figure(const LatentMap& map, const std::string& data_spec,
                             const std::vector<std::string>& class_names) {
  const size_t n = map.xy.size() / 2;
  Panel p;
  p.x_label = map.x_label;
  p.y_label = map.y_label;
  std::map<int32_t, Series> by_label;  // sorted by label
  for (size_t i = 0; i < n; ++i) {
    const int32_t label = map.labels.empty() ? -1 : map.labels[i];
    Series& s = by_label[label];
    s.x.push_back(map.xy[2 * i]);
    s.y.push_back(map.xy[2 * i + 1]);
  }
  for (auto& [label, s] : by_label) {
    s.kind = Series::Kind::Points;
    s.name = label < 0 ? "examples" : class_name(class_names, data_spec, label);
    s.color = category_color(label < 0 ? 0 : label);
    s.radius = n > 2000 ? 1.6 : 2.5;
    s.opacity = n > 2000 ? 0.45 : 0.7;
    p.series.push_back(std::move(s));
  }
  Figure fig;
  fig.title = std::string("Posterior means of ") + std::to_string(n) + " examples" +
              (map.from_pca ? ", first two principal components" : "");
  fig.width = 780;
  fig.height = 600;
  fig.panels = {p};
  return fig;
}

}  // namespace vae
