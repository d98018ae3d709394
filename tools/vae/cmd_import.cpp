// vae import: a checkpoint from PyTorch weights (a state_dict saved as safetensors) and a model
// description (src/export/torch_import.h has both formats). The checkpoint holds no training
// run; every command that reads a model takes it, and `vae train --init-from` trains from it.
#include <cstdio>

#include "cli.h"
#include "export/torch_import.h"
#include "io/fileio.h"
#include "vae/checkpoint.h"
#include "vae/error.h"

namespace vae_cli {

namespace {

struct ImportArgs {
  std::string weights;
  std::string config;
  std::string out;
};

int run_import(const ImportArgs& a) {
  if (!ends_with(a.out, ".safetensors"))
    throw UsageError("--out: must name a .safetensors file, got '" + a.out + "'");
  check_output_path(a.out, "--out");
  const std::vector<unsigned char> bytes = vae::read_file(a.config);
  if (bytes.size() > (1u << 20))
    throw vae::Error(a.config + ": a model description over 1 MiB is not plausible");
  const vae::ModelConfig model =
      vae::parse_import_description(std::string(bytes.begin(), bytes.end()), a.config);
  const vae::Checkpoint ckpt = vae::import_checkpoint(model, a.weights);
  vae::save_checkpoint(a.out, ckpt);
  std::printf("wrote %s: %s, %zu parameters from %s (imported: no training run; train from it "
              "with vae train --init-from %s)\n",
              a.out.c_str(), model.describe().c_str(), ckpt.params.size(), a.weights.c_str(),
              a.out.c_str());
  return 0;
}

}  // namespace

Command add_import(CLI::App& root) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* app = root.add_subcommand(
      "import", "Write a checkpoint from PyTorch weights (a state_dict saved as safetensors) and "
                "a model description");
  app->add_option("--weights", args->weights,
                  ".safetensors file of the weights, named and shaped as vae.cpp's (see "
                  "docs/interop.md)")
      ->required();
  app->add_option("--config", args->config,
                  "JSON model description with the data's shape (input_dim or image, "
                  "num_classes)")
      ->required();
  app->add_option("--out", args->out, ".safetensors checkpoint to write")->required();
  return {app, [args] { return run_import(*args); }};
}

}  // namespace vae_cli
