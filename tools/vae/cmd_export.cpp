// vae export: a copy of a checkpoint for use elsewhere; with --weights-only, without the
// optimiser state (Adam's two moments, two thirds of a full checkpoint), which inference and
// every command but `vae train --resume` do without. With --onnx DIR, the model as two ONNX
// graphs instead, DIR/encoder.onnx and DIR/decoder.onnx (src/export/onnx_export.h).
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "export/onnx_export.h"
#include "vae/checkpoint.h"
#include "vae/error.h"

namespace vae_cli {

namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string checkpoint;
  std::string out;
  bool weights_only = false;
  std::string onnx;
  bool logits = false;
};

int run_onnx(const ExportArgs& a, const vae::Checkpoint& ckpt) {
  std::error_code ec;
  fs::create_directories(a.onnx, ec);
  if (ec || !fs::is_directory(a.onnx, ec))
    throw vae::Error("--onnx: cannot create folder " + a.onnx + " (" + ec.message() + ")");
  const vae::OnnxFiles files = vae::export_onnx(ckpt, a.onnx, a.logits);
  std::printf("wrote %s (x -> mu, logvar) and %s (z -> %s)%s\n", files.encoder.c_str(),
              files.decoder.c_str(), a.logits ? "logits" : "mean",
              ckpt.model.num_classes > 0 ? "; both also take y, the one-hot label" : "");
  return 0;
}

int run_export(const ExportArgs& a) {
  if (a.out.empty() == a.onnx.empty())
    throw UsageError("give one of --out FILE.safetensors or --onnx DIR");
  if (!a.onnx.empty() && a.weights_only)
    throw UsageError("--weights-only: applies to --out (an ONNX export holds weights only)");
  if (a.onnx.empty() && a.logits) throw UsageError("--logits: applies to --onnx");
  if (!a.onnx.empty()) return run_onnx(a, vae::load_checkpoint(a.checkpoint));
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
      "export", "Write a copy of a checkpoint (--weights-only leaves out the optimiser state), "
                "or the model as ONNX graphs (--onnx DIR)");
  add_checkpoint_argument(app, &args->checkpoint);
  app->add_option("--out", args->out, ".safetensors file to write");
  app->add_flag("--weights-only", args->weights_only,
                "only the model, its weights and the data scaling: for inference and every "
                "command but train --resume");
  app->add_option("--onnx", args->onnx,
                  "folder to write encoder.onnx (x -> mu, logvar) and decoder.onnx (z -> mean) "
                  "into, the data scaling included; conditional models take y (N, classes) "
                  "one-hot" +
                      std::string(vae::onnx_export_available()
                                      ? ""
                                      : " (not in this build: needs libonnx-dev)"));
  app->add_flag("--logits", args->logits,
                "with --onnx: decoder.onnx gives the decoder's raw output, logits (N, D), in "
                "model units, instead of the mean");
  return {app, [args] { return run_export(*args); }};
}

}  // namespace vae_cli
