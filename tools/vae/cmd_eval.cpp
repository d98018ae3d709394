// vae eval: how good a checkpoint is on a data set, as JSON: the −ELBO with its parts (nats per
// example and bits per dimension), optionally the importance-weighted log-likelihood, the KL of
// each latent dimension with the count of active units, and the reconstruction error.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "cli.h"
#include "eval/latent_stats.h"
#include "io/fileio.h"
#include "train/distributed.h"
#include "vae/checkpoint.h"
#include "vae/data_pipeline.h"
#include "vae/error.h"
#include "vae/eval.h"

namespace vae_cli {

namespace {

struct EvalArgs {
  std::string checkpoint;
  std::string data;
  std::string split = "test";
  int iw = 0;
  int batch_size = 500;
  std::string out;
  uint64_t seed = vae::kEvalSeed;
  int threads = 0;
};

double round4(double v) { return std::round(v * 1e4) / 1e4; }

// What the examples are: the run's own split, an MNIST folder's train or test files, or "all"
// the rows of another file.
std::string split_name(const vae::Checkpoint& ckpt, const std::string& spec, const std::string& split) {
  return is_run_data(ckpt, spec) || vae::is_mnist_source(spec) ? split : "all";
}

// What eval reports, each computed over the examples split across the ranks under mpirun
// (every rank takes part in each, and every rank ends with the figures of one process).
struct Figures {
  vae::ElboResult elbo;
  vae::IwResult iw;  // k = 0 without --iw
  double iw_seconds = 0;
  vae::LatentStats latent;
  vae::ReconError recon;
};

Figures compute_figures(vae::Vae<float>& model, const vae::Dataset& data, const EvalArgs& a) {
  Figures f;
  f.elbo = vae::evaluate_elbo(model, data, a.seed, /*per_example=*/false, /*over_ranks=*/true);
  if (a.iw > 0) {
    const auto t0 = std::chrono::steady_clock::now();
    ProgressLine progress("importance sampling, K=" + std::to_string(a.iw));
    f.iw = vae::evaluate_iw(
        model, data, a.iw, a.seed, [&](size_t done, size_t total) { progress.update(done, total); },
        4096, /*over_ranks=*/true);
    f.iw_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  f.latent = vae::latent_stats(model, data, /*over_ranks=*/true);
  f.recon = vae::reconstruction_error(model, data, /*over_ranks=*/true);
  return f;
}

// The latent statistics, and a warning line on stderr for each warning.
void add_latent(const vae::Checkpoint& ckpt, const vae::LatentStats& ls,
                const std::vector<uint32_t>& outside, nlohmann::json* j) {
  nlohmann::json kl_dims = nlohmann::json::array();
  for (double v : ls.kl_per_dim) kl_dims.push_back(round4(v));
  (*j)["latent"] = {{"dimensions", ckpt.model.latent},
                    {"active_units", ls.active_units},
                    {"active_threshold", vae::kActiveUnitThreshold},
                    {"kl_per_dim", kl_dims}};
  nlohmann::json warnings = nlohmann::json::array();
  if (2 * ls.active_units < ckpt.model.latent) {
    const std::string w = "posterior collapse: only " + std::to_string(ls.active_units) + " of " +
                          std::to_string(ckpt.model.latent) +
                          " latent dimensions are active (Cov_x(E_q[z]) > 0.01)";
    warnings.push_back(w);
    std::fprintf(stderr, "vae: warning: %s\n", w.c_str());
  }
  if (const std::string w = out_of_range_warning(outside); !w.empty()) {
    warnings.push_back(w);
    std::fprintf(stderr, "vae: warning: %s\n", w.c_str());
  }
  (*j)["warnings"] = warnings;
}

int run_eval(const EvalArgs& a) {
  apply_threads(a.threads);
  if (a.batch_size < 1) throw UsageError("--batch-size: must be >= 1, got " + std::to_string(a.batch_size));
  if (a.iw < 0 || a.iw > 100000) throw UsageError("--iw: must be in 0..100000, got " + std::to_string(a.iw));
  if (!a.out.empty()) check_output_path(a.out, "--out");
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  const std::string spec = a.data.empty() ? ckpt.train.data.data : a.data;
  std::vector<uint32_t> outside;
  const vae::Dataset data = load_split_for(ckpt, spec, a.split, &outside);
  if (data.n == 0) throw vae::Error(spec + ": the " + a.split + " split is empty");
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, a.batch_size);
  const double D = static_cast<double>(ckpt.model.input_dim);
  const double nats_to_bpd = 1.0 / (D * std::log(2.0));

  const Figures f = compute_figures(model, data, a);
  if (!vae::is_root_rank()) return 0;  // under mpirun: rank 0 reports
  const vae::ElboResult& r = f.elbo;
  nlohmann::json j = {{"checkpoint", a.checkpoint},
                      {"data", spec},
                      {"split", split_name(ckpt, spec, a.split)},
                      {"examples", r.n},
                      {"likelihood", vae::likelihood_name(ckpt.model)},
                      {"binarize", vae::binarize_name(ckpt.train.binarize)},
                      {"units", "nats per example; loss = recon + kl = -ELBO"},
                      {"loss", round4(r.loss)},
                      {"recon", round4(r.recon)},
                      {"kl", round4(r.kl)},
                      {"bits_per_dim", round4(r.loss * nats_to_bpd)}};
  if (vae::sigma_role(ckpt.model.likelihood) == vae::SigmaRole::Learned)
    j["sigma"] = "learned";
  else if (vae::sigma_role(ckpt.model.likelihood) == vae::SigmaRole::Fixed)
    j["sigma"] = ckpt.model.sigma;
  if (a.iw > 0)
    j["iw"] = {{"k", f.iw.k},
               {"log_likelihood", round4(f.iw.log_likelihood)},
               {"nll", round4(-f.iw.log_likelihood)},
               {"std_error", round4(f.iw.std_error)},
               {"bits_per_dim", round4(-f.iw.log_likelihood * nats_to_bpd)},
               {"examples", f.iw.n},
               {"seconds", f.iw_seconds}};  // unrounded: benchmarks divide by it
  add_latent(ckpt, f.latent, outside, &j);
  j["reconstruction"] = {{"mse", f.recon.mse}};
  if (ckpt.model.channels > 0) j["reconstruction"]["psnr_db"] = round4(vae::psnr_db(f.recon.mse));

  const std::string text = j.dump(2) + "\n";
  // The file first, so a failed write prints no figures; with --out - the JSON goes to standard
  // output once (check_output_path moved the command's own stdout aside).
  if (!a.out.empty()) vae::write_file_atomic(a.out, text);
  if (a.out != vae::kStandardOutput) std::fputs(text.c_str(), stdout);
  return 0;
}

}  // namespace

Command add_eval(CLI::App& root) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* app = root.add_subcommand(
      "eval", "Evaluate a checkpoint: -ELBO and its parts, bits/dim, importance-weighted log-likelihood "
              "(--iw K), KL per latent dimension and active units, reconstruction error; as JSON");
  add_checkpoint_argument(app, &args->checkpoint);
  add_data_options(app, &args->data, &args->split);
  app->add_option("--iw", args->iw,
                  "importance samples K per example for the log-likelihood bound (0 = skip; the "
                  "literature uses 5000)");
  app->add_option("--batch-size", args->batch_size, "examples per forward pass");
  add_seed_option(app, &args->seed, "seed for the evaluation's samples");
  app->add_option("--out", args->out, "also write the JSON to this file");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_eval(*args); }};
}

}  // namespace vae_cli
