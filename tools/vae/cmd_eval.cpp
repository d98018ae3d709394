// vae eval: the test −ELBO of a checkpoint, with its parts, as JSON.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli.h"
#include "vae/eval.h"
#include "vae/fileio.h"
#include "vae/trainer.h"

namespace vae_cli {

namespace {

struct EvalArgs {
  std::string checkpoint;
  std::string data;
  std::string split = "test";
  int batch_size = 500;
  std::string out;
  int threads = 0;
};

int run_eval(const EvalArgs& a) {
  apply_threads(a.threads);
  if (a.batch_size < 1) throw UsageError("--batch-size: must be >= 1");
  if (!a.out.empty()) check_output_path(a.out, "--out");
  const vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  const std::string spec = a.data.empty() ? ckpt.train.data : a.data;
  const vae::Dataset data = load_split_for(ckpt, spec, a.split);
  vae::Vae<float> model = vae::model_from_checkpoint(ckpt, a.batch_size);
  const vae::ElboResult r = vae::evaluate_elbo(model, data);
  const nlohmann::json j = {{"checkpoint", a.checkpoint},
                            {"data", spec},
                            {"split", a.split},
                            {"examples", r.n},
                            {"likelihood", ckpt.model.likelihood},
                            {"binarize", ckpt.train.binarize},
                            {"loss", r.loss},
                            {"recon", r.recon},
                            {"kl", r.kl},
                            {"units", "nats per example; loss = recon + kl = -ELBO"}};
  const std::string text = j.dump(2) + "\n";
  std::fputs(text.c_str(), stdout);
  if (!a.out.empty()) vae::write_file_atomic(a.out, text);
  return 0;
}

}  // namespace

Command add_eval(CLI::App& root) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* app = root.add_subcommand("eval", "Print a checkpoint's -ELBO (with its reconstruction and KL parts) as JSON");
  app->add_option("checkpoint", args->checkpoint, "checkpoint (.safetensors)")->required();
  app->add_option("--data", args->data, "data (default: the data the model was trained on)");
  app->add_option("--split", args->split, "which split: test or train");
  app->add_option("--batch-size", args->batch_size, "examples per forward pass");
  app->add_option("--out", args->out, "also write the JSON to this file");
  add_threads_option(app, &args->threads);
  return {app, [args] { return run_eval(*args); }};
}

}  // namespace vae_cli
