// Tests for src/viz/report.cpp: base64 against RFC 4648's vectors, metrics.jsonl parsing and its
// errors, and a whole report written for a small saved model:
// every section present, well-formed HTML, nothing fetched from outside, every picture file
// written, and errors that leave no report behind.
//
// Legend: N examples, D = 36 values per 6x6 image, Z = 3.
#include "viz/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "io/png.h"
#include "test_util.h"
#include "vae/error.h"
#include "viz/xml_check.h"

namespace {

using vae_test::TempDir;

TEST(Base64, Rfc4648Vectors) {
  auto b64 = [](const std::string& s) { return vae::base64_encode(s.data(), s.size()); };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foob"), "Zm9vYg==");
  EXPECT_EQ(b64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  const unsigned char high[] = {0xff, 0xfe, 0xfd, 0x00};
  EXPECT_EQ(vae::base64_encode(high, 4), "//79AA==");
}

TEST(ReadMetrics, OneObjectPerLine) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  vae_test::write_bytes(
      path,
      "{\"epoch\":1,\"train_loss\":10.5,\"train_recon\":9,\"train_kl\":1.5,\"test_loss\":11,"
      "\"test_recon\":9.25,\"test_kl\":1.75,\"examples_per_s\":1000,\"seconds\":2.5}\n\n"
      "{\"epoch\":2,\"train_loss\":9,\"train_recon\":8,\"train_kl\":1,\"test_loss\":9.5,"
      "\"test_recon\":8.5,\"test_kl\":1}\n");
  const std::vector<vae::EpochMetrics> m = vae::read_metrics(path);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].epoch, 1);
  EXPECT_EQ(m[0].train_loss, 10.5);
  EXPECT_EQ(m[0].test_kl, 1.75);
  EXPECT_EQ(m[0].seconds, 2.5);
  EXPECT_EQ(m[1].epoch, 2);
  EXPECT_EQ(m[1].examples_per_s, 0);  // optional
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    vae::read_metrics(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const vae::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(ReadMetrics, ErrorsNameTheFileAndLine) {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  vae_test::write_bytes(path,
                        "{\"epoch\":1,\"train_loss\":1,\"train_recon\":1,\"train_kl\":0,"
                        "\"test_loss\":1,\"test_recon\":1,\"test_kl\":0}\nnot json\n");
  expect_error(path, path + ":2: not a JSON object");
  vae_test::write_bytes(path, "[1, 2]\n");
  expect_error(path, path + ":1: not a JSON object");
  vae_test::write_bytes(path, "{\"epoch\":1,\"train_loss\":1}\n");
  expect_error(path, path + ":1: no 'train_recon'");
  vae_test::write_bytes(path, "{\"epoch\":\"one\"}\n");
  expect_error(path, path + ":1: 'epoch' is not a number");
  // Found by fuzzing: 1e300 was cast to an integer unchecked.
  for (const char* epoch : {"1e300", "-2", "1.5"}) {
    vae_test::write_bytes(path, std::string("{\"epoch\":") + epoch +
                                    ",\"train_loss\":1,\"train_recon\":1,\"train_kl\":0,"
                                    "\"test_loss\":1,\"test_recon\":1,\"test_kl\":0}\n");
    expect_error(path, path + ":1: 'epoch' is not a whole number of epochs");
  }
  expect_error(dir.file("missing.jsonl"), dir.file("missing.jsonl") + ": cannot open");
}

// ---- A whole report ----------------------------------------------------------------------------

constexpr int kSide = 6, kD = kSide * kSide;

// A saved 36-8-3 model, a metrics.jsonl of two epochs, and 24 labelled test images in `dir`.
struct SmallRun {
  TempDir dir;
  vae::Dataset test;
  SmallRun() {
    vae::Checkpoint c;
    c.model.input_dim = kD;
    c.model.hidden = {8};
    c.model.latent = 3;
    c.model.height = c.model.width = kSide;
    c.model.channels = 1;
    c.train.data.data = "fashion-mnist";
    c.train.epochs = 2;
    c.state.epoch = 2;
    c.state.step = 10;
    c.state.best_test_loss = 20.75;
    c.state.best_epoch = 2;
    vae::Vae<float> model(c.model, 8);
    vae::Rng rng(9);
    model.init_params(rng);
    c.params.assign(model.params(), model.params() + model.num_params());
    vae::save_checkpoint(dir.file("last.safetensors"), c);
    vae_test::write_bytes(
        dir.file("metrics.jsonl"),
        "{\"epoch\":1,\"train_loss\":25,\"train_recon\":24,\"train_kl\":1,\"test_loss\":22,"
        "\"test_recon\":21,\"test_kl\":1,\"examples_per_s\":500,\"seconds\":0.5}\n"
        "{\"epoch\":2,\"train_loss\":21,\"train_recon\":19.5,\"train_kl\":1.5,\"test_loss\":20.75,"
        "\"test_recon\":19,\"test_kl\":1.75,\"examples_per_s\":550,\"seconds\":0.4}\n");
    test.n = 24;
    test.d = kD;
    test.height = test.width = kSide;
    test.channels = 1;
    for (size_t i = 0; i < test.n; ++i) {
      test.labels.push_back(static_cast<int32_t>(i % 4));
      for (int p = 0; p < kD; ++p)
        test.x.push_back(static_cast<float>(((i % 4) * 9 + p) % kD < 18 ? 0.9 : 0.1));
    }
  }
};

const char* const kSections[] = {
    "configuration",  "command",    "metrics",    "curves",   "samples", "reconstructions",
    "interpolations", "traversals", "latent-map", "manifold", "kl"};

TEST(WriteReport, EverySectionSelfContained) {
  SmallRun run;
  vae::ReportOptions o;
  o.manifold_size = 5;
  // The command line, as `vae train` and `vae report` write it (tools/vae/train_options.h).
  o.command = "vae train --data fashion-mnist --hidden 8 --latent 3 --activation relu --epochs 2 "
              "--batch-size 128 --lr 0.001 --seed 1 --binarize none --out " + run.dir.path();
  const std::string path = vae::write_report(run.dir.path(), run.test, o);
  EXPECT_EQ(path, run.dir.file("report.html"));
  const std::string html = vae_test::read_bytes(path);
  ASSERT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(vae_test::xml_problem(html, true), "");
  for (const char* id : kSections)
    EXPECT_NE(html.find("<section id=\"" + std::string(id) + "\">"), std::string::npos) << id;
  // Nothing outside the page: every src and href a data: URI or a fragment.
  size_t images = 0;
  for (const std::string& value : vae_test::link_values(html)) {
    EXPECT_TRUE(value.rfind("data:image/png;base64,", 0) == 0 || value.rfind("#", 0) == 0)
        << value.substr(0, 60);
    images += value.rfind("data:", 0) == 0;
  }
  // Samples, reconstructions, interpolations, traversals and manifold; plots are inline SVG.
  EXPECT_EQ(images, 5u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  size_t svgs = 0;
  for (size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  EXPECT_EQ(svgs, 3u);  // loss curves, latent map, KL bars
  // The command line, folded before options with " \" continuations, is the whole command.
  std::string unfolded = html;
  for (size_t p = unfolded.find(" \\\n   "); p != std::string::npos;
       p = unfolded.find(" \\\n   ", p))
    unfolded.erase(p, 6);
  EXPECT_NE(unfolded.find("<pre>" + o.command + "</pre>"), std::string::npos) << o.command;
  EXPECT_EQ(html.find("<pre>" + o.command + "</pre>"), std::string::npos) << "not folded";
  // The content a reader looks for.
  for (const char* text :
       {"vae train --data fashion-mnist --hidden 8 --latent 3", "test #1 (Trouser)",
        ">T-shirt/top<", ">epoch<", "KL per latent dimension", "36-8-3"})
    EXPECT_NE(html.find(text), std::string::npos) << text;
  // Each figure in its cell, as metrics.jsonl's last line and the checkpoint give it (every
  // value of the fixture differs, so a cell showing the wrong source fails).
  for (const char* cell :
       {"<tr><th>\u2212ELBO</th><td>21.00</td><td>20.75</td></tr>",
        "<tr><th>reconstruction</th><td>19.50</td><td>19.00</td></tr>",
        "<tr><th>KL</th><td>1.50</td><td>1.75</td></tr>",
        "<tr><th>best test \u2212ELBO</th><td>20.75 (epoch 2)</td></tr>",
        "<tr><th>training time</th><td>0.9 s over 2 epochs</td></tr>"})
    EXPECT_NE(html.find(cell), std::string::npos) << cell;
  // The pictures are written beside the report.
  for (const char* f :
       {"samples.png", "reconstructions.png", "interpolations.png", "traversals.png",
        "manifold.png", "loss_curves.svg", "latents.svg", "kl_per_dim.svg"})
    EXPECT_TRUE(vae_test::exists(run.dir.file(f))) << f;
  const vae::Image manifold = vae::read_png(run.dir.file("manifold.png"));
  EXPECT_EQ(manifold.height, 12 + 5 * 24 + 2 * 6);
  for (const auto& e : std::filesystem::directory_iterator(run.dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST(WriteReport, ExamplesThatDoNotFitWriteNothing) {
  SmallRun run;
  vae::Dataset wrong = run.test;
  wrong.d = 10;
  wrong.x.resize(wrong.n * 10);
  try {
    vae::write_report(run.dir.path(), wrong);
    ADD_FAILURE() << "no error";
  } catch (const vae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("examples have 10 values but the model expects 36"),
              std::string::npos)
        << e.what();
  }
  vae::Dataset none = run.test;
  none.n = 0;
  none.x.clear();
  none.labels.clear();
  EXPECT_THROW(vae::write_report(run.dir.path(), none), vae::Error);
  EXPECT_FALSE(vae_test::exists(run.dir.file("report.html")));
  EXPECT_FALSE(vae_test::exists(run.dir.file("traversals.png")));
}

TEST(WriteReport, NeedsARunFolderWithACheckpoint) {
  TempDir empty;
  vae::Dataset d;
  EXPECT_THROW(vae::write_report(empty.file("nope"), d), vae::Error);
  try {
    vae::write_report(empty.path(), d);
    ADD_FAILURE() << "no error";
  } catch (const vae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("last.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace
