// vae encode: posterior parameters (or samples) of a data set, as a .npy array.
#include <cstdio>
#include <vector>

#include "cli.h"
#include "vae/checkpoint.h"
#include "vae/npy.h"
#include "vae/rng.h"

namespace vae_cli {

namespace {

struct EncodeArgs {
  std::string checkpoint;
  std::string data;
  std::string split = "test";
  std::string out = "z.npy";
  bool sample = false;
  uint64_t seed = 1;
  int threads = 0;
};

int run_encode(const EncodeArgs& a) {
  apply_threads(a.threads);
  output_format(a.out, {".npy"});
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  const std::string spec = a.data.empty() ? ckpt.train.data.data : a.data;
  const vae::Dataset data = load_split_for(ckpt, spec, a.split);
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 256);
  const size_t n = data.n, Z = ckpt.model.latent;
  std::vector<float> mu(n * Z), logvar(n * Z);  // (N, Z) each
  model.encode(data.x.data(), n, mu.data(), logvar.data(), data.label_ptr(0));
  const int64_t N = static_cast<int64_t>(n), Zi = static_cast<int64_t>(Z);
  if (a.sample) {
    // z = μ + exp(½ log σ²) ε, one draw per example.
    std::vector<float> z(n * Z);  // (N, Z)
    vae::Rng rng(a.seed);
    rng.normal_fill(z.data(), z.size());
    for (size_t i = 0; i < z.size(); ++i) z[i] = mu[i] + std::exp(0.5f * logvar[i]) * z[i];
    vae::write_npy(a.out, z.data(), {N, Zi});
    std::printf("wrote z samples (%lld, %lld) to %s\n", static_cast<long long>(N),
                static_cast<long long>(Zi), a.out.c_str());
  } else {
    std::vector<float> both(2 * n * Z);  // (N, 2, Z): [i][0] = μ, [i][1] = log σ²
    for (size_t i = 0; i < n; ++i) {
      std::copy(&mu[i * Z], &mu[i * Z] + Z, &both[2 * i * Z]);
      std::copy(&logvar[i * Z], &logvar[i * Z] + Z, &both[(2 * i + 1) * Z]);
    }
    vae::write_npy(a.out, both.data(), {N, 2, Zi});
    std::printf("wrote mu and logvar (%lld, 2, %lld) to %s\n", static_cast<long long>(N),
                static_cast<long long>(Zi), a.out.c_str());
  }
  return 0;
}

}  // namespace

Command add_encode(CLI::App& root) {
  auto args = std::make_shared<EncodeArgs>();
  CLI::App* app = root.add_subcommand(
      "encode", "Encode a data set: writes (N, 2, Z) float32 [mu, logvar] per example, or (N, Z) samples with --sample");
  add_checkpoint_argument(app, &args->checkpoint);
  add_data_options(app, &args->data, &args->split);
  app->add_option("--out", args->out, ".npy file to write");
  app->add_flag("--sample", args->sample, "write one z = mu + sigma * eps per example instead");
  add_seed_option(app, &args->seed, "seed for --sample");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_encode(*args); }};
}

}  // namespace vae_cli
