// The picture commands and the run report end to end: each test runs the built binary
// (VAE_BINARY) on tiny runs trained here on a generated MNIST-format data set (6x6 images in
// four classes, 64 train and 16 test examples), reads the PNGs back with a decoder, and checks
// their size (the layouts of src/viz/viz.h and plot.h) and that they are not blank; SVG is
// checked for well-formedness and its labels, the report for every section and for data: URIs
// only. Bad input gives exit 2 (usage) or 1 (anything else), one line on stderr naming the
// option or file, and no output file. With Chromium installed, scripts/check-report.sh opens the
// report and checks that every image loaded.
//
// Legend: D = 36 values per 6x6 image, Z latent size. Tiles are drawn 4× (24 pixels) with 2
// pixels between them; labelled grids add a 12-pixel band above and a gutter left.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "cli/cli_util.h"
#include "io/png.h"
#include "test_util.h"
#include "viz/canvas.h"
#include "viz/plot.h"
#include "viz/xml_check.h"

namespace vae_cli_test {
namespace {

namespace fs = std::filesystem;
using vae_test::exists;
using vae_test::read_bytes;
using vae_test::TempDir;
using vae_test::write_bytes;

// ---------------------------------------------------------------------------------------------
// Picture sizes

constexpr int kTile = 24, kPad = 2, kBand = 12;  // a 6x6 image drawn 4×; grid padding; band

std::vector<std::string> tiny_train_args(const std::string& data, const std::string& out,
                                         int latent, int epochs) {
  return {"train",
          "--data",
          data,
          "--out",
          out,
          "--hidden",
          "8",
          "--latent",
          std::to_string(latent),
          "--epochs",
          std::to_string(epochs),
          "--batch-size",
          "16",
          "--threads",
          "1",
          "--seed",
          "7"};
}

/// Reads `path` back as a PNG and checks its size, its channels and that it is not blank.
void expect_png(const std::string& path, int width, int height, int channels = 3) {
  SCOPED_TRACE(path);
  ASSERT_TRUE(exists(path));
  const vae::Image img = vae::read_png(path);
  EXPECT_EQ(img.width, width);
  EXPECT_EQ(img.height, height);
  EXPECT_EQ(img.channels, channels);
  EXPECT_GT(pixel_variance(img), 0);
}

/// Width and height of a labelled grid of R×C tiles with gutter G (src/viz/viz.h).
int grid_width(int cols, int gutter) { return gutter + cols * kTile + kPad * (cols + 1); }
int grid_height(int rows) { return kBand + rows * kTile + kPad * (rows + 1); }

const char* const kSections[] = {
    "configuration",  "command",    "metrics",    "curves",   "samples", "reconstructions",
    "interpolations", "traversals", "latent-map", "manifold", "kl"};

/// The report at `path`: well-formed HTML with every section, every src/href a data: URI or a
/// fragment, no script, no stylesheet link.
void expect_self_contained_report(const std::string& path) {
  SCOPED_TRACE(path);
  ASSERT_TRUE(exists(path));
  const std::string html = read_bytes(path);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(vae_test::xml_problem(html, true), "");
  for (const char* id : kSections)
    EXPECT_NE(html.find("<section id=\"" + std::string(id) + "\">"), std::string::npos) << id;
  size_t data_uris = 0;
  for (const std::string& v : vae_test::link_values(html)) {
    EXPECT_TRUE(v.rfind("data:image/png;base64,", 0) == 0 || v.rfind("#", 0) == 0)
        << v.substr(0, 60);
    data_uris += v.rfind("data:", 0) == 0;
  }
  EXPECT_GE(data_uris, 5u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Two runs shared by the tests: Z = 2 (two epochs) and Z = 3 (one epoch).

class VizCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = std::make_unique<TempDir>();
    data_ = write_data(shared_->file("data"));
    run2_ = shared_->file("run2");
    run3_ = shared_->file("run3");
    for (const auto& [run, latent, epochs] :
         {std::tuple<std::string, int, int>{run2_, 2, 2}, {run3_, 3, 1}}) {
      const auto args = tiny_train_args(data_, run, latent, epochs);
      train_result_ = vae_run(args);
      ASSERT_EQ(train_result_.code, 0) << describe(args, train_result_);
    }
  }
  static void TearDownTestSuite() { shared_.reset(); }
  void SetUp() override { ASSERT_EQ(train_result_.code, 0) << "a shared training run failed"; }

  static std::string ckpt2() { return run2_ + "/last.safetensors"; }
  static std::string ckpt3() { return run3_ + "/last.safetensors"; }

  static std::unique_ptr<TempDir> shared_;
  static std::string data_, run2_, run3_;
  static RunResult train_result_;
  TempDir tmp_;
};

std::unique_ptr<TempDir> VizCli::shared_;
std::string VizCli::data_, VizCli::run2_, VizCli::run3_;
RunResult VizCli::train_result_;

// ---------------------------------------------------------------------------------------------
// interpolate

TEST_F(VizCli, InterpolateBetweenTwoExamples) {
  const std::string out = tmp_.file("interp.png");
  const std::vector<std::string> args = {"interpolate", ckpt2(), "--from", "0", "--to",      "3",
                                         "--steps",     "4",     "--out",  out, "--threads", "1"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("between test examples 0 and 3"), std::string::npos) << r.out;
  // Rows "linear" and "spherical"; 4 steps framed by the two originals: 6 columns.
  const int gutter = vae::text_width("spherical") + 6;
  expect_png(out, grid_width(6, gutter), grid_height(2));
  EXPECT_EQ(temp_files_under(tmp_.path()), std::vector<std::string>{});
}

TEST_F(VizCli, InterpolateBetweenRandomCodes) {
  const std::string out = tmp_.file("interp.png");
  const std::vector<std::string> args = {"interpolate", ckpt3(), "--random", "--seed", "5",
                                         "--steps",     "3",     "--out",    out};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  expect_png(out, grid_width(3, vae::text_width("spherical") + 6), grid_height(2));
}

TEST_F(VizCli, InterpolateRejectsBadInput) {
  const std::string out = tmp_.file("i.png"), s = tmp_.path();
  expect_clean_failure({"interpolate", ckpt2(), "--out", tmp_.file("i.jpg")}, 2, "--out",
                       {tmp_.file("i.jpg")}, s);
  expect_clean_failure({"interpolate", ckpt2(), "--steps", "1", "--out", out}, 2, "--steps", {out},
                       s);
  expect_clean_failure({"interpolate", ckpt2(), "--to", "16", "--out", out}, 2, "--to", {out}, s);
  expect_clean_failure({"interpolate", ckpt2(), "--from", "-1", "--out", out}, 2, "--from", {out},
                       s);
  expect_clean_failure({"interpolate", ckpt2(), "--random", "--from", "2", "--out", out}, 2,
                       "--random", {out}, s);
  expect_clean_failure({"interpolate", tmp_.file("none.safetensors"), "--out", out}, 1,
                       "none.safetensors", {out}, s);
  expect_clean_failure({"interpolate", ckpt2(), "--out", tmp_.file("no/dir/i.png")}, 1, "--out",
                       {tmp_.file("no/dir/i.png")}, s);
}

// ---------------------------------------------------------------------------------------------
// traverse

// Gutter of a traversal whose listed rows (stdout) are `rows`: "collapsed" is wider than
// "KL x.xx".
int traversal_gutter(const std::string& stdout_text) {
  const bool any_collapsed = stdout_text.find("collapsed") != std::string::npos;
  return std::max(
             {vae::text_width(any_collapsed ? "collapsed" : "KL 0.00"), vae::text_width("z_j =")}) +
         6;
}

TEST_F(VizCli, TraverseOneRowPerDimension) {
  const std::string out = tmp_.file("t.png");
  std::vector<std::string> args = {"traverse", ckpt3(), "--steps", "5", "--range",   "2.5",
                                   "--index",  "2",     "--out",   out, "--threads", "1"};
  RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(r.err, "");
  // A summary line, then one line per dimension, by decreasing KL.
  EXPECT_EQ(count_lines(r.out), 1u + 3);
  expect_png(out, grid_width(5, traversal_gutter(r.out)), grid_height(3));
  std::vector<double> kls;
  std::regex kl_re("KL +([0-9.]+)");
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), kl_re);
       it != std::sregex_iterator(); ++it)
    kls.push_back(std::stod((*it)[1]));
  ASSERT_EQ(kls.size(), 3u);
  EXPECT_GE(kls[0], kls[1]);
  EXPECT_GE(kls[1], kls[2]);

  // --dims 1: the dimension with the most KL only.
  args = {"traverse", ckpt3(), "--dims", "1", "--out", out};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  expect_png(out, grid_width(11, traversal_gutter(r.out)), grid_height(1));
}

TEST_F(VizCli, TraverseRejectsBadInput) {
  const std::string out = tmp_.file("t.png"), s = tmp_.path();
  expect_clean_failure({"traverse", ckpt2(), "--range", "0", "--out", out}, 2, "--range", {out}, s);
  expect_clean_failure({"traverse", ckpt2(), "--steps", "1", "--out", out}, 2, "--steps", {out}, s);
  expect_clean_failure({"traverse", ckpt2(), "--dims", "-2", "--out", out}, 2, "--dims", {out}, s);
  expect_clean_failure({"traverse", ckpt2(), "--index", "99", "--out", out}, 2, "--index", {out},
                       s);
  expect_clean_failure({"traverse", ckpt2(), "--out", tmp_.file("t.svg")}, 2, "--out",
                       {tmp_.file("t.svg")}, s);
}

// ---------------------------------------------------------------------------------------------
// manifold

TEST_F(VizCli, ManifoldOverThePriorForTwoDimensions) {
  const std::string out = tmp_.file("m.png");
  const std::vector<std::string> args = {"manifold", ckpt2(), "--size", "5", "--out", out};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_NE(r.out.find("prior's quantiles"), std::string::npos) << r.out;
  // Labels Φ⁻¹(p) for p = 0.1, 0.3, …: "-1.3" … "1.3"; the corner "z2\z1" is wider.
  expect_png(out, grid_width(5, vae::text_width("z2\\z1") + 6), grid_height(5));
}

TEST_F(VizCli, ManifoldOverPrincipalDirectionsBeyondTwo) {
  const std::string out = tmp_.file("m.png");
  const std::vector<std::string> args = {"manifold", ckpt3(), "--size",    "4",
                                         "--out",    out,     "--threads", "1"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_NE(r.out.find("principal directions of 16 test encodings"), std::string::npos) << r.out;
  expect_png(out, grid_width(4, vae::text_width("PC2\\PC1") + 6), grid_height(4));
}

TEST_F(VizCli, ManifoldRejectsBadInput) {
  const std::string out = tmp_.file("m.png");
  expect_clean_failure({"manifold", ckpt2(), "--size", "1", "--out", out}, 2, "--size", {out},
                       tmp_.path());
  expect_clean_failure({"manifold", ckpt2(), "--size", "101", "--out", out}, 2, "--size", {out},
                       tmp_.path());
}

// ---------------------------------------------------------------------------------------------
// latents

TEST_F(VizCli, LatentsAsPngAndSvg) {
  const std::string png = tmp_.file("l.png"), svg = tmp_.file("l.svg");
  std::vector<std::string> args = {"latents", ckpt2(), "--out", png, "--threads", "1"};
  RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_NE(r.out.find("16 test examples"), std::string::npos) << r.out;
  expect_png(png, 780, 600);
  // Every class has its colour in the picture (its points and its legend swatch).
  const vae::Image img = vae::read_png(png);
  for (int k = 0; k < 4; ++k) {
    const vae::Rgb c = vae::category_color(k);
    size_t n = 0;
    for (size_t i = 0; i + 2 < img.pixels.size(); i += 3)
      n += img.pixels[i] == c.r && img.pixels[i + 1] == c.g && img.pixels[i + 2] == c.b;
    EXPECT_GT(n, 20u) << "class " << k;
  }

  args = {"latents", ckpt2(), "--out", svg, "-n", "10"};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const std::string text = read_bytes(svg);
  ASSERT_EQ(text.rfind("<svg", 0), 0u);
  EXPECT_EQ(vae_test::xml_problem(text), "");
  for (const char* label : {">z1<", ">z2<", ">class 0<", ">class 3<", "Posterior means of 10"})
    EXPECT_NE(text.find(label), std::string::npos) << label;

  args = {"latents", ckpt3(), "--out", svg};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const std::string pca = read_bytes(svg);
  EXPECT_EQ(vae_test::xml_problem(pca), "");
  EXPECT_NE(pca.find(">PC1 ("), std::string::npos);
  EXPECT_NE(pca.find(">PC2 ("), std::string::npos);
}

TEST_F(VizCli, LatentsRejectsBadInput) {
  expect_clean_failure({"latents", ckpt2(), "--out", tmp_.file("l.txt")}, 2, "--out",
                       {tmp_.file("l.txt")}, tmp_.path());
  expect_clean_failure({"latents", ckpt2(), "-n", "0", "--out", tmp_.file("l.png")}, 2, "-n",
                       {tmp_.file("l.png")}, tmp_.path());
  expect_clean_failure({"latents", ckpt2(), "--split", "both", "--out", tmp_.file("l.png")}, 2,
                       "--split", {tmp_.file("l.png")}, tmp_.path());
  // A file that is not a checkpoint.
  write_bytes(tmp_.file("junk.safetensors"), "not a checkpoint");
  expect_clean_failure({"latents", tmp_.file("junk.safetensors"), "--out", tmp_.file("l.png")}, 1,
                       "junk.safetensors", {tmp_.file("l.png")}, tmp_.path());
}

// ---------------------------------------------------------------------------------------------
// curves

TEST_F(VizCli, CurvesFromARunFolder) {
  const std::string svg = tmp_.file("c.svg"), png = tmp_.file("c.png");
  std::vector<std::string> args = {"curves", run2_, "--out", svg};
  RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_NE(r.out.find("2 epochs"), std::string::npos) << r.out;
  const std::string text = read_bytes(svg);
  ASSERT_EQ(text.rfind("<svg", 0), 0u);
  EXPECT_EQ(vae_test::xml_problem(text), "");
  for (const char* label :
       {">epoch<", ">nats per example<", ">train<", ">validation<", ">reconstruction<", ">KL<",
        "ELBO<"})
    EXPECT_NE(text.find(label), std::string::npos) << label;

  args = {"curves", run2_ + "/metrics.jsonl", "--out", png};
  r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  expect_png(png, 1000, 340);
}

TEST_F(VizCli, CurvesRejectsBadInput) {
  const std::string out = tmp_.file("c.svg");
  expect_clean_failure({"curves", run2_, "--out", tmp_.file("c.pdf")}, 2, "--out",
                       {tmp_.file("c.pdf")}, tmp_.path());
  expect_clean_failure({"curves", tmp_.path(), "--out", out}, 1, "metrics.jsonl", {out},
                       tmp_.path());
  write_bytes(tmp_.file("bad.jsonl"), "{\"epoch\": 1}\n");
  expect_clean_failure({"curves", tmp_.file("bad.jsonl"), "--out", out}, 1, "bad.jsonl:1", {out},
                       tmp_.path());
  write_bytes(tmp_.file("empty.jsonl"), "\n");
  expect_clean_failure({"curves", tmp_.file("empty.jsonl"), "--out", out}, 1, "no epochs", {out},
                       tmp_.path());
}

// ---------------------------------------------------------------------------------------------
// report

TEST_F(VizCli, TrainWritesTheReport) {
  for (const std::string& run : {run2_, run3_}) {
    expect_self_contained_report(run + "/report.html");
    for (const char* f : {"interpolations.png", "traversals.png", "manifold.png", "loss_curves.svg",
                          "latents.svg", "kl_per_dim.svg"})
      EXPECT_TRUE(exists(run + "/" + f)) << run << "/" << f;
    EXPECT_EQ(temp_files_under(run), std::vector<std::string>{});
  }
  // The command line, unfolded (the report breaks it before options with " \" at line ends).
  std::string html = read_bytes(run2_ + "/report.html");
  for (size_t p = html.find(" \\\n   "); p != std::string::npos; p = html.find(" \\\n   ", p))
    html.erase(p, 6);
  EXPECT_NE(html.find("vae train --data " + data_ +
                      " --hidden 8 --latent 2 --activation relu "
                      "--epochs 2 --batch-size 16 --lr 0.001 --seed 7 --binarize none"),
            std::string::npos);
  EXPECT_NE(html.find("class 1"), std::string::npos);
  // The train step's traversal covers both dimensions, the manifold the prior's 20×20 grid.
  const vae::Image t = vae::read_png(run2_ + "/traversals.png");
  EXPECT_EQ(t.height, grid_height(2));
  const vae::Image m = vae::read_png(run2_ + "/manifold.png");
  EXPECT_EQ(m.height, grid_height(20));
  EXPECT_GT(pixel_variance(m), 0);
}

TEST_F(VizCli, ReportCommandRewritesTheReport) {
  const std::string run = tmp_.file("copy");
  fs::copy(run3_, run);
  fs::remove(run + "/report.html");
  fs::remove(run + "/traversals.png");
  const std::vector<std::string> args = {"report", run, "--points", "8", "--threads", "1"};
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, "wrote " + run + "/report.html\n");
  expect_self_contained_report(run + "/report.html");
  EXPECT_TRUE(exists(run + "/traversals.png"));
  EXPECT_NE(read_bytes(run + "/report.html").find("Posterior means of the first 8 test examples"),
            std::string::npos);
}

TEST_F(VizCli, ReportRejectsBadInput) {
  expect_clean_failure({"report", tmp_.file("missing")}, 1, "missing", {}, tmp_.path());
  fs::create_directories(tmp_.file("empty"));
  expect_clean_failure({"report", tmp_.file("empty")}, 1, "last.safetensors",
                       {tmp_.file("empty/report.html")}, tmp_.path());
  expect_clean_failure({"report", run2_, "--points", "0"}, 2, "--points", {}, tmp_.path());
  // Data that do not fit the model: the report is not rewritten.
  const std::string run = tmp_.file("copy");
  fs::copy(run2_, run);
  fs::remove(run + "/report.html");
  expect_clean_failure({"report", run, "--data", tmp_.file("nodata")}, 1, "nodata",
                       {run + "/report.html"}, tmp_.path());
}

TEST_F(VizCli, OneLatentDimension) {
  // Z = 1: a one-row manifold, no latent map, and still a complete report.
  const std::string run = tmp_.file("run1");
  const auto args = tiny_train_args(data_, run, 1, 1);
  const RunResult r = vae_run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  expect_self_contained_report(run + "/report.html");
  EXPECT_NE(read_bytes(run + "/report.html").find("one latent dimension"), std::string::npos);
  const std::string out = tmp_.file("m.png");
  const RunResult m = vae_run({"manifold", run + "/last.safetensors", "--size", "3", "--out", out});
  ASSERT_EQ(m.code, 0) << m.err;
  expect_png(out, grid_width(3, vae::text_width("z1") + 6), grid_height(1));
  expect_clean_failure({"latents", run + "/last.safetensors", "--out", tmp_.file("l.png")}, 1,
                       "1 latent dimension", {tmp_.file("l.png")}, tmp_.path());
}

// ---------------------------------------------------------------------------------------------
// The report in a browser

bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string dirs = path;
  for (size_t start = 0; start <= dirs.size();) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    if (::access((dirs.substr(start, end - start) + "/" + name).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

TEST_F(VizCli, ReportLoadsInHeadlessChromium) {
  if (!on_path("chromium") && !on_path("chromium-browser") && !on_path("google-chrome"))
    GTEST_SKIP() << "no chromium on PATH (Debian: apt-get install chromium)";
  // The source tree from the fixtures' absolute path (__FILE__ may be relative, e.g. under ccache).
  const std::string script =
      (fs::path(VAE_FIXTURE_DIR).parent_path().parent_path() / "scripts/check-report.sh").string();
  ASSERT_TRUE(exists(script)) << script;
  const std::string shot = tmp_.file("shot.png");
  const RunResult r = run_binary("/bin/bash", {script, run2_ + "/report.html", shot});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("broken=0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("errors=0"), std::string::npos) << r.out;
  const vae::Image img = vae::read_png(shot);
  EXPECT_EQ(img.width, 1200);
  EXPECT_GT(img.height, 800);
  EXPECT_GT(pixel_variance(img), 0);
}

}  // namespace
}  // namespace vae_cli_test
