// vae export: a copy of a checkpoint for use elsewhere; with --weights-only, without the
// optimiser state (Adam's two moments, two thirds of a full checkpoint), which inference and
// every command but `vae train --resume` do without.
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "vae/checkpoint.h"

namespace vae_cli {

namespace {

struct ExportArgs {
  std::string checkpoint;
  std::string out;
  bool weights_only = false;
};

int run_export(const ExportArgs& a) {
  if (!ends_with(a.out, ".safetensors"))
    throw UsageError("--out: must name a .safetensors file, got '" + a.out + "'");
  check_output_path(a.out, "--out");
  vae::Checkpoint ckpt = vae::load_checkpoint(a.checkpoint);
  if (a.weights_only) {
    ckpt.adam_m = {};
    ckpt.adam_v = {};
    ckpt.adam_step = 0;
  }
  vae::save_checkpoint(a.out, ckpt);
  namespace fs = std::filesystem;
  std::printf("wrote %s (%s%llu bytes; %s has %llu)\n", a.out.c_str(),
              a.weights_only ? "weights only, " : "",
              static_cast<unsigned long long>(fs::file_size(a.out)), a.checkpoint.c_str(),
              static_cast<unsigned long long>(fs::file_size(a.checkpoint)));
  return 0;
}

}  // namespace

Command add_export(CLI::App& root) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* app = root.add_subcommand(
      "export", "Write a copy of a checkpoint; --weights-only leaves out the optimiser state");
  add_checkpoint_argument(app, &args->checkpoint);
  app->add_option("--out", args->out, ".safetensors file to write")->required();
  app->add_flag("--weights-only", args->weights_only,
                "only the model, its weights and the data scaling: for inference and every "
                "command but train --resume");
  return {app, [args] { return run_export(*args); }};
}

}  // namespace vae_cli
