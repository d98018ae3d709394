// vae score: one anomaly score per example, as CSV: −ELBO (or −log p̂(x) by importance sampling
// with --iw K), its reconstruction and KL parts, and the reconstruction error. Higher = less
// typical of the training data; sort by it. Labelled data with named classes (the checkpoint's
// class_names, or Fashion-MNIST's) get a "class" column with each row's class name.
#include <cstdio>
#include <sstream>

#include "cli.h"
#include "io/fileio.h"
#include "train/distributed.h"
#include "vae/checkpoint.h"
#include "vae/eval.h"
#include "viz/viz.h"

namespace vae_cli {

namespace {

struct ScoreArgs {
  std::string checkpoint;
  std::string data;
  std::string split = "test";
  std::string out = "scores.csv";
  int iw = 0;
  uint64_t seed = vae::kEvalSeed;
  int threads = 0;
};

// A CSV field: as it is, or double-quoted (quotes doubled) when it holds a ',', '"' or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The classes' names for the class column, or empty when the data do not name their classes.
std::vector<std::string> named_classes(const vae::Checkpoint& ckpt, const std::string& spec,
                                       const vae::Dataset& data) {
  if (data.labels.empty()) return {};
  if (!ckpt.class_names.empty()) return ckpt.class_names;
  if (spec == "fashion-mnist") return vae::fashion_mnist_class_names();
  return data.class_names;
}

int run_score(const ScoreArgs& a) {
  apply_threads(a.threads);
  if (a.iw < 0 || a.iw > 100000) throw UsageError("--iw: must be in 0..100000, got " + std::to_string(a.iw));
  output_format(a.out, {".csv"});
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  const std::string spec = a.data.empty() ? ckpt.train.data.data : a.data;
  std::vector<uint32_t> outside;
  const vae::Dataset data = load_split_for(ckpt, spec, a.split, &outside);
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, 500);

  // Under mpirun each figure is a collective call over the ranks (every rank ends with them all).
  const vae::ElboResult elbo =
      vae::evaluate_elbo(model, data, a.seed, /*per_example=*/true, /*over_ranks=*/true);
  const vae::ReconError re = vae::reconstruction_error(model, data, /*over_ranks=*/true);
  vae::IwResult iw;
  if (a.iw > 0) {
    ProgressLine progress("importance sampling, K=" + std::to_string(a.iw));
    iw = vae::evaluate_iw(model, data, a.iw, a.seed,
                          [&](size_t done, size_t total) { progress.update(done, total); }, 4096,
                          /*over_ranks=*/true);
  }

  if (!vae::is_root_rank()) return 0;  // under mpirun: rank 0 writes
  const std::vector<std::string> names = named_classes(ckpt, spec, data);
  std::ostringstream csv;
  csv.precision(6);
  csv << std::fixed;
  csv << "index" << (data.labels.empty() ? "" : ",label") << (names.empty() ? "" : ",class")
      << ",score,neg_elbo,recon_nll,kl,mse" << (a.iw > 0 ? ",neg_log_lik_iw" : "")
      << (outside.empty() ? "" : ",out_of_range") << "\n";
  for (size_t i = 0; i < data.n; ++i) {
    const double neg_elbo = static_cast<double>(elbo.recon_rows[i]) + elbo.kl_rows[i];
    const double score = a.iw > 0 ? -iw.per_example[i] : neg_elbo;
    csv << i;
    if (!data.labels.empty()) csv << "," << data.labels[i];
    if (!names.empty()) csv << "," << csv_field(vae::class_name(names, spec, data.labels[i]));
    csv << "," << score << "," << neg_elbo << "," << elbo.recon_rows[i] << "," << elbo.kl_rows[i]
        << "," << re.mse_rows[i];
    if (a.iw > 0) csv << "," << -iw.per_example[i];
    if (!outside.empty()) csv << "," << outside[i];
    csv << "\n";
  }
  vae::write_file_atomic(a.out, csv.str());
  std::printf("scored %zu examples (score = %s, nats) to %s\n", data.n,
              a.iw > 0 ? ("-log p(x), importance-weighted, K=" + std::to_string(a.iw)).c_str() : "-ELBO",
              a.out.c_str());
  if (const std::string w = out_of_range_warning(outside); !w.empty())
    std::fprintf(stderr, "vae: warning: %s\n", w.c_str());
  return 0;
}

}  // namespace

Command add_score(CLI::App& root) {
  auto args = std::make_shared<ScoreArgs>();
  CLI::App* app = root.add_subcommand(
      "score", "Write one anomaly score per example to CSV: -ELBO (or -log p(x) with --iw K), its parts, "
               "reconstruction MSE; higher = less typical");
  add_checkpoint_argument(app, &args->checkpoint);
  add_data_options(app, &args->data, &args->split);
  app->add_option("--out", args->out, "CSV file to write");
  app->add_option("--iw", args->iw, "score by the importance-weighted log-likelihood with K samples (0 = use -ELBO)");
  add_seed_option(app, &args->seed, "seed for the samples");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_score(*args); }};
}

}  // namespace vae_cli
