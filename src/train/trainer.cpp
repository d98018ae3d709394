#include "vae/trainer.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

#include "vae/batcher.h"
#include "vae/error.h"
#include "vae/eval.h"
#include "vae/fileio.h"
#include "vae/optim.h"

namespace vae {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// metrics.jsonl lines of epochs <= `upto` from an earlier run in the same folder, so a resumed
// run's file has each epoch exactly once.
std::vector<std::string> kept_metrics(const std::string& path, int64_t upto) {
  std::vector<std::string> lines;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.at("epoch").get<int64_t>() <= upto) lines.push_back(line);
    } catch (const nlohmann::json::exception&) {
      // A line that is not a metrics object is dropped rather than carried forward.
    }
  }
  return lines;
}

}  // namespace

std::string EpochMetrics::to_json() const {
  auto r = [](double v) { return std::round(v * 1e4) / 1e4; };
  const std::string held = on_val ? "val" : "test";
  return nlohmann::json{{"epoch", epoch},
                        {"train_loss", r(train_loss)},
                        {"train_recon", r(train_recon)},
                        {"train_kl", r(train_kl)},
                        {"train_objective", r(train_objective)},
                        {"kl_weight", r(kl_weight)},
                        {held + "_loss", r(test_loss)},
                        {held + "_recon", r(test_recon)},
                        {held + "_kl", r(test_kl)},
                        {"examples_per_s", std::round(examples_per_s)},
                        {"seconds", r(seconds)}}
      .dump();
}

std::string FinalMetrics::to_json(const std::string& likelihood) const {
  auto r = [](double v) { return std::round(v * 1e4) / 1e4; };
  nlohmann::json j = {{"best_epoch", best_epoch},
                      {"epochs_run", epochs_run},
                      {"stopped_early", stopped_early},
                      {"selected_on", has_val ? "val" : "test"},
                      {"likelihood", likelihood},
                      {"units", "nats per example; loss = recon + kl = -ELBO"},
                      {"test_loss", r(test_loss)},
                      {"test_recon", r(test_recon)},
                      {"test_kl", r(test_kl)}};
  if (has_val) j["val_loss"] = r(val_loss);
  return j.dump(2) + "\n";
}

Vae<float> model_from_checkpoint(const Checkpoint& ckpt, int max_batch) {
  Vae<float> model(ckpt.model, max_batch);
  VAE_ASSERT(ckpt.params.size() == model.num_params());
  std::copy(ckpt.params.begin(), ckpt.params.end(), model.params());
  return model;
}

void train(const std::string& out_dir, const ModelConfig& model_cfg, const TrainOptions& opts,
           const DataSplits& data, const Scaler& scaler, const Checkpoint* resume,
           const TrainCallbacks& cb) {
  opts.validate();
  model_cfg.validate();
  if (data.train.d != static_cast<size_t>(model_cfg.input_dim))
    throw Error(data.source + ": examples have " + std::to_string(data.train.d) +
                " values but the model expects " + std::to_string(model_cfg.input_dim));
  if (data.train.n == 0) throw Error(data.source + ": the training set is empty");
  const int Y = model_cfg.num_classes;
  if (Y > 0) {
    // Every split's labels must name one of the model's classes.
    for (const Dataset* d : {&data.train, &data.val, &data.test}) {
      if (d->n == 0) continue;
      if (d->labels.size() != d->n)
        throw Error(data.source + ": a conditional model needs a label for every example");
      for (int32_t y : d->labels)
        if (y < 0 || y >= Y)
          throw Error(data.source + ": label " + std::to_string(y) + " is outside 0.." +
                      std::to_string(Y - 1) + " (the model's classes)");
    }
  }

  const bool dynamic = opts.binarize == "dynamic";
  // Held-out sets are binarised once, with a fixed seed, when training binarises.
  const Dataset test = dynamic ? binarize(data.test, kTestBinarizeSeed) : data.test;
  const bool has_val = data.val.n > 0;
  const Dataset val = dynamic && has_val ? binarize(data.val, kTestBinarizeSeed) : data.val;
  const Dataset& held = has_val ? val : test;

  const bool iwae = opts.objective == "iwae";
  const int K = iwae ? opts.k : 1;
  Vae<float> model(model_cfg, opts.batch_size, K);
  Adam<float> adam(model.num_params(), AdamConfig{opts.lr});
  Rng rng(opts.seed);
  TrainState state;
  if (resume) {
    VAE_ASSERT(resume->params.size() == model.num_params());
    std::copy(resume->params.begin(), resume->params.end(), model.params());
    if (resume->adam_m.empty())
      throw Error("--resume: the checkpoint holds no optimiser state (weights only)");
    adam.m() = resume->adam_m;
    adam.v() = resume->adam_v;
    adam.set_steps(resume->adam_step);
    state = resume->state;
    rng.set_state(state.rng);
  } else {
    model.init_params(rng);
  }

  const std::string metrics_path = out_dir + "/" + kMetricsFile;
  std::vector<std::string> metrics_lines = kept_metrics(metrics_path, state.epoch);

  Batcher batcher(data.train, opts.batch_size, dynamic);
  const int Z = model_cfg.latent;
  std::vector<float> x(static_cast<size_t>(opts.batch_size) * model_cfg.input_dim);  // (B, D)
  std::vector<float> eps(static_cast<size_t>(opts.batch_size) * K * Z);              // (K·B, Z)
  std::vector<int32_t> labels(Y > 0 ? opts.batch_size : 0);                          // (B)
  int32_t* batch_labels = Y > 0 ? labels.data() : nullptr;

  Checkpoint ckpt;
  ckpt.model = model_cfg;
  ckpt.train = opts;
  ckpt.scaler = scaler;
  bool stopped_early = false;

  auto patience_spent = [&] {
    return has_val && opts.patience > 0 && state.best_epoch > 0 &&
           state.epoch - state.best_epoch >= opts.patience;
  };
  for (int64_t epoch = state.epoch + 1; epoch <= opts.epochs && !patience_spent(); ++epoch) {
    const auto t0 = Clock::now();
    batcher.start_epoch(rng);
    double recon_sum = 0, kl_sum = 0, objective_sum = 0;
    const double batches = static_cast<double>(batcher.batches_per_epoch());
    double beta = opts.kl_weight(static_cast<double>(epoch - 1));
    size_t seen = 0, batch_index = 0;
    for (int B; (B = batcher.next(rng, x.data(), batch_labels)) > 0;) {
      rng.normal_fill(eps.data(), static_cast<size_t>(B) * K * Z);
      model.zero_grad();
      const LossParts parts = iwae ? model.forward_iw(x.data(), eps.data(), B, K, batch_labels)
                                   : model.forward(x.data(), eps.data(), B, batch_labels);
      if (!std::isfinite(parts.recon) || !std::isfinite(parts.kl))
        throw Error("training diverged at epoch " + std::to_string(epoch) + ", step " +
                    std::to_string(state.step + 1) + ": " +
                    (std::isfinite(parts.recon) ? "KL" : "reconstruction") +
                    " term is not finite (try a smaller --lr)");
      beta = opts.kl_weight(static_cast<double>(epoch - 1) + batch_index / batches);
      objective_sum += B * (iwae ? model.backward(x.data(), B)
                                 : model.backward(x.data(), B, beta, opts.free_bits));
      if (opts.clip_grad > 0) clip_grad_norm(model.grads(), model.num_params(), opts.clip_grad);
      adam.step(model.params(), model.grads());
      ++state.step;
      recon_sum += parts.recon;
      kl_sum += parts.kl;
      seen += B;
      ++batch_index;
      if (cb.on_batch) {
        TrainProgress p;
        p.epoch = epoch;
        p.epochs = opts.epochs;
        p.batch = batch_index;
        p.batches = batcher.batches_per_epoch();
        p.loss = (recon_sum + kl_sum) / seen;
        p.elapsed_s = seconds_since(t0);
        p.examples_per_s = seen / std::max(p.elapsed_s, 1e-9);
        cb.on_batch(p);
      }
    }
    const double train_s = seconds_since(t0);

    EpochMetrics m;
    m.epoch = epoch;
    m.train_recon = recon_sum / seen;
    m.train_kl = kl_sum / seen;
    m.train_objective = objective_sum / seen;
    m.kl_weight = beta;
    m.train_loss = m.train_recon + m.train_kl;
    const ElboResult te = evaluate_elbo(model, held);
    m.on_val = has_val;
    m.test_loss = te.loss;
    m.test_recon = te.recon;
    m.test_kl = te.kl;
    m.examples_per_s = seen / std::max(train_s, 1e-9);

    state.epoch = epoch;
    state.rng = rng.state();
    const bool best = held.n > 0 ? te.loss < state.best_test_loss : true;
    if (best) {
      state.best_test_loss = held.n > 0 ? te.loss : state.best_test_loss;
      state.best_epoch = epoch;
    }
    ckpt.state = state;
    ckpt.params.assign(model.params(), model.params() + model.num_params());
    ckpt.adam_m = adam.m();
    ckpt.adam_v = adam.v();
    ckpt.adam_step = adam.steps();
    save_checkpoint(out_dir + "/" + kLastCheckpoint, ckpt);
    if (best) save_checkpoint(out_dir + "/" + kBestCheckpoint, ckpt);

    m.seconds = seconds_since(t0);
    metrics_lines.push_back(m.to_json());
    std::ostringstream all;
    for (const auto& line : metrics_lines) all << line << '\n';
    write_file_atomic(metrics_path, all.str());
    if (cb.on_epoch) cb.on_epoch(m);
    if (patience_spent() && epoch < opts.epochs) stopped_early = true;
  }

  // The best model's figures on the held-out splits; the test set is scored here for the first
  // time when a validation split chose the model.
  const std::string best_path = out_dir + "/" + kBestCheckpoint;
  if (state.epoch == 0 || !std::ifstream(best_path)) return;
  const Checkpoint best = load_checkpoint(best_path);
  std::copy(best.params.begin(), best.params.end(), model.params());
  FinalMetrics f;
  f.best_epoch = best.state.epoch;
  f.epochs_run = state.epoch;
  f.stopped_early = stopped_early || patience_spent();
  f.has_val = has_val;
  f.val_loss = has_val ? best.state.best_test_loss : 0;
  const ElboResult te = evaluate_elbo(model, test);
  f.test_loss = te.loss;
  f.test_recon = te.recon;
  f.test_kl = te.kl;
  write_file_atomic(out_dir + "/" + kFinalFile, f.to_json(likelihood_name(model_cfg)));
  if (cb.on_final) cb.on_final(f);
}

}  // namespace vae
