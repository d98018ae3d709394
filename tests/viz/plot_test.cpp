// Tests for src/viz/plot.cpp: tick placement and labels, SVG that is well-formed XML with its
// text escaped and one element per drawn point, PNG rendering of the same figure, and the
// figures of a run (loss curves, per-dimension KL, latent scatter).
//
// Legend: N points, E epochs, Z latent size.
#include "viz/plot.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "xml_check.h"

namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

void expect_ticks(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
}

TEST(NiceTicks, StepsOfOneTwoOrFive) {
  expect_ticks(vae::nice_ticks(0, 1, 5), {0, 0.2, 0.4, 0.6, 0.8, 1});
  expect_ticks(vae::nice_ticks(-3.2, 4.1, 5), {-3, -2, -1, 0, 1, 2, 3, 4});  // 7.3 / 5 → 1
  expect_ticks(vae::nice_ticks(-3.2, 4.1, 3), {-2, 0, 2, 4});                // 7.3 / 3 → 2
  expect_ticks(vae::nice_ticks(0, 0.03, 3), {0, 0.01, 0.02, 0.03});
  EXPECT_EQ(vae::nice_ticks(250, 290, 4), (std::vector<double>{250, 260, 270, 280, 290}));
  // Epochs: integers only, even where a finer step would fit.
  EXPECT_EQ(vae::nice_ticks(0.9, 3.1, 8, true), (std::vector<double>{1, 2, 3}));
  // A degenerate range still gives one tick.
  EXPECT_EQ(vae::nice_ticks(2, 2, 5), (std::vector<double>{2}));
}

TEST(FormatTick, AsManyDecimalsAsTheStepNeeds) {
  EXPECT_EQ(vae::format_tick(0.2, 0.2), "0.2");
  EXPECT_EQ(vae::format_tick(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(vae::format_tick(250, 10), "250");
  EXPECT_EQ(vae::format_tick(2, 0.5), "2.0");
  EXPECT_EQ(vae::format_tick(0.005, 0.005), "0.005");
  EXPECT_EQ(vae::format_tick(-1e-17, 0.2), "0");
  EXPECT_EQ(vae::format_tick(-4, 2), "-4");
  EXPECT_EQ(vae::format_tick(3e6, 1e6), "3e+06");
}

vae::Figure sample_figure() {
  vae::Series line, pts, bars;
  line.name = "train <loss> & more";
  line.x = {1, 2, 3};
  line.y = {3, 2, 1.5};
  pts.kind = vae::Series::Kind::Points;
  pts.name = "points";
  pts.color = vae::category_color(3);
  pts.x = {0.5, 1.5, 2.5, 3.5};
  pts.y = {1, 2, 3, std::nan("")};  // the NaN point is skipped
  bars.kind = vae::Series::Kind::Bars;
  bars.color = vae::category_color(2);
  bars.x = {1, 2, 3};
  bars.y = {0.5, 1.0, 0.25};
  vae::Panel a, b;
  a.title = "first";
  a.x_label = "epoch";
  a.y_label = "nats per example";
  a.series = {line, pts};
  b.title = "second";
  b.x_label = "latent dimension j";
  b.y_label = "KL (nats)";
  b.y_from_zero = true;
  b.series = {bars};
  b.x_ticks = {{1, "1"}, {2, "2"}, {3, "3"}};
  vae::Figure fig;
  fig.title = "A \"figure\"";
  fig.width = 640;
  fig.height = 300;
  fig.panels = {a, b};
  return fig;
}

TEST(FigureSvg, WellFormedWithEscapedTextAndLabels) {
  const std::string svg = vae::figure_svg(sample_figure());
  ASSERT_EQ(svg.rfind("<svg", 0), 0u) << svg.substr(0, 80);
  EXPECT_NE(svg.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_NE(svg.find("viewBox=\"0 0 640 300\""), std::string::npos);
  EXPECT_EQ(vae_test::xml_problem(svg), "");
  for (const char* text :
       {">epoch<", ">nats per example<", ">latent dimension j<", ">KL (nats)<", ">first<",
        ">second<", ">A &quot;figure&quot;<", ">train &lt;loss&gt; &amp; more<", ">points<"})
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  // Three finite scatter points, three line markers, one legend marker each for the line and
  // the points; three bars plus the white background.
  EXPECT_EQ(count(svg, "<circle"), 3u + 3 + 2);
  EXPECT_EQ(count(svg, "<polyline"), 1u);
  EXPECT_EQ(count(svg, "fill=\"#2ca02c\""), 3u);
}

TEST(FigurePng, SizeAndInk) {
  const vae::Figure fig = sample_figure();
  const vae::Image img = vae::figure_png(fig);
  EXPECT_EQ(img.width, 640);
  EXPECT_EQ(img.height, 300);
  EXPECT_EQ(img.channels, 3);
  // The bar colour is drawn (bars, legend has no entry for the unnamed bars), and so is the
  // line colour.
  size_t bar = 0, line = 0, white = 0;
  const vae::Rgb b = vae::category_color(2), l = vae::category_color(0);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    const uint8_t* p = &img.pixels[i];
    bar += p[0] == b.r && p[1] == b.g && p[2] == b.b;
    line += p[0] == l.r && p[1] == l.g && p[2] == l.b;
    white += p[0] == 255 && p[1] == 255 && p[2] == 255;
  }
  EXPECT_GT(bar, 500u);
  EXPECT_GT(line, 100u);
  EXPECT_GT(white, img.pixels.size() / 3 / 2);  // mostly paper
}

std::vector<vae::EpochMetrics> three_epochs() {
  std::vector<vae::EpochMetrics> m(3);
  for (int e = 0; e < 3; ++e) {
    m[e].epoch = e + 1;
    m[e].train_recon = 200 - 10 * e;
    m[e].train_kl = 10 + e;
    m[e].train_loss = m[e].train_recon + m[e].train_kl;
    m[e].test_recon = 195 - 8 * e;
    m[e].test_kl = 11 + e;
    m[e].test_loss = m[e].test_recon + m[e].test_kl;
  }
  return m;
}

TEST(LossCurves, ThreePanelsOfTrainAndTest) {
  const vae::Figure fig = vae::loss_curves_figure(three_epochs());
  ASSERT_EQ(fig.panels.size(), 3u);
  EXPECT_EQ(fig.panels[0].title, "\u2212ELBO");
  EXPECT_EQ(fig.panels[1].title, "reconstruction");
  EXPECT_EQ(fig.panels[2].title, "KL");
  for (const vae::Panel& p : fig.panels) {
    ASSERT_EQ(p.series.size(), 2u);
    EXPECT_EQ(p.series[0].name, "train");
    EXPECT_EQ(p.series[1].name, "test");
    EXPECT_EQ(p.series[0].x, (std::vector<double>{1, 2, 3}));
    EXPECT_EQ(p.x_label, "epoch");
  }
  EXPECT_EQ(fig.panels[0].series[1].y, (std::vector<double>{206, 199, 192}));
  EXPECT_EQ(fig.panels[2].series[0].y, (std::vector<double>{10, 11, 12}));
  const std::string svg = vae::figure_svg(fig);
  EXPECT_EQ(vae_test::xml_problem(svg), "");
  EXPECT_EQ(count(svg, "<polyline"), 6u);
  EXPECT_EQ(count(svg, ">epoch<"), 3u);
  EXPECT_EQ(count(svg, ">train<"), 1u);  // one legend for the figure
}

TEST(KlBars, ActiveAndCollapsedDimensionsInTwoSeries) {
  vae::LatentStats s;
  s.kl_per_dim = {2.0, 0.001, 1.0};
  s.mu_variance = {0.9, 0.0001, 0.5};
  s.mu_mean = {0, 0, 0};
  s.active_units = 2;
  const vae::Figure fig = vae::kl_bars_figure(s);
  ASSERT_EQ(fig.panels.size(), 1u);
  const vae::Panel& p = fig.panels[0];
  ASSERT_EQ(p.series.size(), 2u);
  EXPECT_EQ(p.series[0].x, (std::vector<double>{1, 3}));
  EXPECT_EQ(p.series[1].name, "collapsed");
  EXPECT_EQ(p.series[1].x, (std::vector<double>{2}));
  EXPECT_EQ(p.x_ticks.size(), 3u);
  EXPECT_NE(fig.title.find("2 of 3 active"), std::string::npos) << fig.title;
}

TEST(LatentScatter, OneNamedSeriesPerClass) {
  vae::LatentMap map;
  map.xy = {0, 0, 1, 1, 2, 0, 3, 1};
  map.labels = {9, 0, 9, 3};
  map.x_label = "z1";
  map.y_label = "z2";
  vae::Figure fig = vae::latent_scatter_figure(map, "fashion-mnist");
  const vae::Panel& p = fig.panels[0];
  ASSERT_EQ(p.series.size(), 3u);
  EXPECT_EQ(p.series[0].name, "T-shirt/top");
  EXPECT_EQ(p.series[1].name, "Dress");
  EXPECT_EQ(p.series[2].name, "Ankle boot");
  EXPECT_EQ(p.series[2].x, (std::vector<double>{0, 2}));
  EXPECT_EQ(p.x_label, "z1");
  const std::string svg = vae::figure_svg(fig);
  EXPECT_EQ(vae_test::xml_problem(svg), "");
  EXPECT_NE(svg.find(">T-shirt/top<"), std::string::npos);
  map.labels.clear();
  fig = vae::latent_scatter_figure(map, "other");
  ASSERT_EQ(fig.panels[0].series.size(), 1u);
  EXPECT_EQ(fig.panels[0].series[0].name, "examples");
}

}  // namespace
