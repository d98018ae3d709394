// The explorer page: self-contained (nothing fetched from elsewhere), and driven in Debian's
// headless Chromium by tests/serve/browser/explorer_check.js (puppeteer-core, installed by
// scripts/setup.sh --with-test-tools): hover and drag decode, the decoded image equals POST
// decode for that z, a pick shows its score and sliders, the class selector of a conditional
// model decodes with the chosen label (equal to POST decode with it), no console errors, a
// screenshot.
#include "serve/explorer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <thread>

#include "cli/cli_util.h"
#include "infer/infer_util.h"
#include "io/png.h"
#include "serve/http_server.h"
#include "test_util.h"
#include "vae/checkpoint.h"

namespace {

namespace fs = std::filesystem;

TEST(ServeExplorer, PageAsksForNothingOutside) {
  const std::string& page = vae::serve::explorer_page();
  EXPECT_EQ(page.rfind("<!doctype html>", 0), 0u);
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
}

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

TEST(ServeExplorer, WorksInHeadlessChromium) {
  const fs::path dir = fs::path(VAE_FIXTURE_DIR).parent_path() / "serve" / "browser";
  const char* chromium_env = std::getenv("CHROMIUM");
  const std::string chromium = chromium_env && *chromium_env ? chromium_env : "/usr/bin/chromium";
  if (!executable(chromium)) GTEST_SKIP() << "no " << chromium << " (Debian: apt-get install chromium)";
  if (!executable("/usr/bin/node")) GTEST_SKIP() << "no node (Debian: apt-get install nodejs)";
  if (!fs::exists(dir / "node_modules" / "puppeteer-core"))
    GTEST_SKIP() << "puppeteer-core not installed in " << dir << " (scripts/setup.sh --with-test-tools)";

  // an image model (3x4 pixels) and 300 labelled rows with named classes
  vae_test::TempDir tmp;
  const std::string ckpt = tmp.file("m.safetensors"), cond = tmp.file("cond.safetensors");
  vae::save_checkpoint(ckpt, vae_test::infer_checkpoint(0));
  vae::save_checkpoint(cond, vae_test::infer_checkpoint(3));  // conditional, 3 classes
  vae::Dataset data;
  data.n = 300;
  data.d = 12;
  data.x = vae_test::infer_rows(300, 12, false);
  for (size_t i = 0; i < 300; ++i) data.labels.push_back(static_cast<int32_t>(i % 3));
  vae::serve::Service service({{"m", ckpt}, {"cond", cond}}, {}, data, {"red", "green", "blue"});
  vae::serve::ServerOptions opt;
  opt.port = 0;
  opt.workers = 2;
  vae::serve::HttpServer server(service, opt);
  std::thread loop([&] { server.run(); });

  const std::string shot = tmp.file("explorer.png");
  const vae_cli_test::RunResult r = vae_cli_test::run_binary(
      "/usr/bin/node", {(dir / "explorer_check.js").string(),
                        "http://127.0.0.1:" + std::to_string(server.port()) + "/", shot});
  server.stop();
  loop.join();
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("changed=1 equal=1 errors=0 outside=0 class_changed=1 class_equal=1"), std::string::npos) << r.out;
  const vae::Image img = vae::read_png(shot);
  EXPECT_EQ(img.width, 1100);
  EXPECT_EQ(img.height, 720);
  if (const char* keep = std::getenv("VAE_EXPLORER_SCREENSHOT")) fs::copy_file(shot, keep, fs::copy_options::overwrite_existing);
}

}  // namespace
