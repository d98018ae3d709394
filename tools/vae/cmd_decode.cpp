// vae decode: decoder means for latent codes read from a .npy array.
#include <cstdio>
#include <vector>

#include "cli.h"
#include "io/png.h"
#include "vae/checkpoint.h"
#include "vae/error.h"
#include "vae/npy.h"

namespace vae_cli {

namespace {

struct DecodeArgs {
  std::string checkpoint;
  std::string input;
  std::string out = "x.npy";
  int cols = 8;
  int threads = 0;
  int label = -1;
};

int run_decode(const DecodeArgs& a) {
  apply_threads(a.threads);
  if (a.cols < 1) throw UsageError("--cols: must be >= 1");
  const bool png = output_format(a.out, {".npy", ".png"}) == ".png";
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  if (png) require_pictures(ckpt, a.checkpoint);
  const vae::NpyArray in = vae::read_npy(a.input);
  const int64_t Z = ckpt.model.latent;
  // Accepts (N, Z) codes, or (N, 2, Z) [mu, logvar] as `vae encode` writes (mu is decoded).
  const bool pairs = in.shape.size() == 3 && in.shape[1] == 2 && in.shape[2] == Z;
  if (!pairs && !(in.shape.size() == 2 && in.shape[1] == Z))
    throw vae::Error(a.input + ": expected shape (N, " + std::to_string(Z) + ") or (N, 2, " +
                     std::to_string(Z) + ") for this model's latent size");
  const size_t n = static_cast<size_t>(in.shape[0]);
  if (n == 0) throw vae::Error(a.input + ": holds no latent codes");
  if (png) check_picture_count(n, a.input + ": " + std::to_string(n) + " codes");
  std::vector<float> z(n * Z);  // (N, Z)
  for (size_t i = 0; i < n; ++i)
    std::copy(&in.data[i * Z * (pairs ? 2 : 1)], &in.data[i * Z * (pairs ? 2 : 1)] + Z, &z[i * Z]);
  for (float v : z)
    if (!std::isfinite(v)) throw vae::Error(a.input + ": latent codes contain NaN or Inf");
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  std::vector<float> x(n * ckpt.model.input_dim);  // (N, D)
  apply_label(model, a.label);
  model.decode(z.data(), n, x.data());
  if (png) {
    const vae::ModelConfig& c = ckpt.model;
    vae::write_png(a.out, vae::make_grid(x.data(), static_cast<int>(n), c.height, c.width,
                                         c.channels, std::min<int>(a.cols, static_cast<int>(n))));
  } else {
    // Back to the data's own units: the inverse of the run's --scale transform.
    ckpt.scaler.invert(x.data(), n);
    vae::write_npy(a.out, x.data(), {static_cast<int64_t>(n), ckpt.model.input_dim});
  }
  std::printf("decoded %zu codes to %s\n", n, a.out.c_str());
  return 0;
}

}  // namespace

Command add_decode(CLI::App& root) {
  auto args = std::make_shared<DecodeArgs>();
  CLI::App* app = root.add_subcommand("decode", "Decode latent codes (.npy) to decoder means (.npy, or a .png grid)");
  add_checkpoint_argument(app, &args->checkpoint);
  app->add_option("input", args->input, ".npy of shape (N, Z), or (N, 2, Z) from vae encode")->required();
  app->add_option("--out", args->out,
                  "output: .npy (N, D) float32 in the data's units (the run's --scale undone), or "
                  ".png grid");
  app->add_option("--cols", args->cols, "images per grid row for .png");
  add_threads_option(app, &args->threads);
  add_label_option(app, &args->label, "0");
  return {app, [args] { return run_decode(*args); }};
}

}  // namespace vae_cli
