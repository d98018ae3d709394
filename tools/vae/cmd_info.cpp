// vae info: what a checkpoint holds, as lines for a person or (--json) one JSON object for a
// program: {"checkpoint", "format", "format_version", "model" (the checkpoint's model JSON),
// "likelihood", "prior", "parameters", "tensors" [{"name", "shape"}], "train_options", "train_state"
// (the checkpoint's JSON forms), "scaling" {"kind", "identity"}, "optimizer_state",
// "class_names" (empty when the training data did not name their classes)}.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli.h"
#include "vae/checkpoint.h"

namespace vae_cli {

namespace {

void print_json(const std::string& path, const vae::Checkpoint& c) {
  using nlohmann::json;
  json tensors = json::array();
  for (const vae::ParamInfo& p : vae::param_table(c.model))
    tensors.push_back({{"name", p.name}, {"shape", p.shape}});
  json j = {{"checkpoint", path},
                  {"format", vae::kCheckpointFormat},
                  {"format_version", vae::kCheckpointVersion},
                  {"model", json::parse(c.model.to_json())},
                  {"likelihood", vae::likelihood_name(c.model)},
                  {"prior", vae::prior_description(c.model)},
                  {"parameters", vae::param_count(c.model)},
                  {"tensors", tensors},
                  {"train_options", json::parse(c.train.to_json())},
                  {"train_state", json::parse(c.state.to_json())},
                  {"scaling", {{"kind", vae::scaler_kind_name(c.scaler.kind)},
                               {"identity", c.scaler.identity()}}},
                  {"optimizer_state", !c.adam_m.empty()},
                  {"class_names", c.class_names}};
  if (!c.imported_from.empty()) j["imported_from"] = c.imported_from;
  std::printf("%s\n", j.dump(2).c_str());
}

void print_training(const vae::Checkpoint& c);

void print_text(const std::string& path, const vae::Checkpoint& c) {
  const vae::ModelConfig& m = c.model;
  std::printf("checkpoint   %s (format %s v%d)\n", path.c_str(), vae::kCheckpointFormat,
              vae::kCheckpointVersion);
  std::printf("model        %s, %s\n", m.describe().c_str(), vae::activation_name(m.activation));
  std::printf("likelihood   %s\n", vae::likelihood_name(m).c_str());
  if (m.prior != vae::Prior::Standard)  // N(0, I) goes without saying, as it always has
    std::printf("prior        %s\n", vae::prior_description(m).c_str());
  if (m.num_classes > 0)
    std::printf("conditional  on labels 0..%d (one-hot to encoder and decoder)\n", m.num_classes - 1);
  if (!c.class_names.empty()) {
    std::string list;
    for (size_t y = 0; y < c.class_names.size(); ++y)
      list += (y ? ", " : "") + std::to_string(y) + " " + c.class_names[y];
    std::printf("classes      %zu: %s\n", c.class_names.size(), list.c_str());
  }
  if (m.channels > 0) std::printf("images       %dx%dx%d\n", m.height, m.width, m.channels);
  if (vae::sigma_role(m.likelihood) == vae::SigmaRole::Fixed)
    std::printf("sigma        %g\n", m.sigma);
  std::printf("scaling      %s%s\n", vae::scaler_kind_name(c.scaler.kind),
              c.scaler.identity() ? " (identity)" : " (per-column offset and factor saved)");
  std::printf("parameters   %zu\n", vae::param_count(m));
  for (const vae::ParamInfo& p : vae::param_table(m)) {
    std::string shape;
    for (size_t k = 0; k < p.shape.size(); ++k) shape += (k ? "x" : "") + std::to_string(p.shape[k]);
    std::printf("  %-22s %s\n", p.name.c_str(), shape.c_str());
  }
  print_training(c);
}

// The run that made the checkpoint, or where an imported one came from.
void print_training(const vae::Checkpoint& c) {
  if (!c.imported_from.empty()) {
    std::printf("imported     from %s (vae import): no training run, optimiser state absent\n",
                c.imported_from.c_str());
    return;
  }
  const vae::TrainOptions& t = c.train;
  std::printf("training     data %s, binarize %s, batch %d, adam lr %g, seed %llu, %d epochs planned\n",
              t.data.data.c_str(), vae::binarize_name(t.binarize), t.batch_size, t.lr,
              static_cast<unsigned long long>(t.seed), t.epochs);
  if (t.objective == vae::Objective::Iwae) std::printf("objective    iwae, k = %d\n", t.k);
  std::printf("state        epoch %lld, step %lld, optimiser state %s\n",
              static_cast<long long>(c.state.epoch), static_cast<long long>(c.state.step),
              c.adam_m.empty() ? "absent" : "present");
  if (c.state.recoveries > 0)
    std::printf("recoveries   %lld from non-finite steps (at most %d); lr lowered to %g\n",
                static_cast<long long>(c.state.recoveries), t.max_recoveries,
                c.state.lr_or(t.lr));
  if (c.state.best_epoch > 0)
    std::printf("best         %s loss %.4f nats at epoch %lld\n",
                c.selected_on == "val" ? "validation" : "test", c.state.best_test_loss,
                static_cast<long long>(c.state.best_epoch));
}

int run_info(const std::string& path, bool as_json) {
  const vae::Checkpoint c = vae::load_checkpoint(path);
  if (as_json)
    print_json(path, c);
  else
    print_text(path, c);
  return 0;
}

}  // namespace

Command add_info(CLI::App& root) {
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* app = root.add_subcommand("info", "Show a checkpoint's architecture, parameter count and training state");
  add_checkpoint_argument(app, path.get());
  app->add_flag("--json", *as_json,
                "print one JSON object (model, tensors, training options and state) instead of lines");
  return {app, [path, as_json] { return run_info(*path, *as_json); }};
}

}  // namespace vae_cli
