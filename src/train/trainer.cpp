#include "vae/trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include "vae/batcher.h"
#include "vae/data_parallel.h"
#include "vae/error.h"
#include "vae/eval.h"
#include "vae/fileio.h"
#include "vae/optim.h"
#include "vae/runtime.h"

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

// "0.001" rather than "1.000000e-03": the learning rates in messages.
std::string format_lr(double lr) {
  std::ostringstream o;
  o << lr;
  return o.str();
}

// Whether a nonfinite_loss_term or nonfinite_tensors description names more than one thing.
bool several(const std::string& names) { return names.find(" and ") != std::string::npos; }

}  // namespace

std::string nonfinite_loss_term(const LossParts& parts, const double* iw_objective) {
  const bool recon = !std::isfinite(parts.recon), kl = !std::isfinite(parts.kl);
  if (recon && kl) return "reconstruction and KL terms";
  if (recon) return "reconstruction term";
  if (kl) return "KL term";
  if (iw_objective && !std::isfinite(*iw_objective)) return "IWAE objective";
  return "";
}

std::string nonfinite_tensors(const std::vector<ParamInfo>& table, const float* values) {
  std::vector<const std::string*> bad;
  for (auto p = table.rbegin(); p != table.rend(); ++p) {
    const float* v = values + p->offset;
    for (size_t i = 0; i < p->numel; ++i)
      if (!std::isfinite(v[i])) {
        bad.push_back(&p->name);
        break;
      }
  }
  std::string out;
  const size_t shown = std::min<size_t>(bad.size(), 3);
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) out += shown == bad.size() && i + 1 == shown ? " and " : ", ";
    out += *bad[i];
  }
  if (bad.size() > shown)
    out += " and " + std::to_string(bad.size() - shown) + " other tensor" +
           (bad.size() - shown == 1 ? "" : "s");
  return out;
}

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

  const bool dynamic = opts.binarize == Binarize::Dynamic;
  // Held-out sets are binarised once, with a fixed seed, when training binarises.
  const Dataset test = dynamic ? binarize(data.test, kTestBinarizeSeed) : data.test;
  const bool has_val = data.val.n > 0;
  const Dataset val = dynamic && has_val ? binarize(data.val, kTestBinarizeSeed) : data.val;
  const Dataset& held = has_val ? val : test;

  const bool iwae = opts.objective == Objective::Iwae;
  const int K = iwae ? opts.k : 1;
  Vae<float> model(model_cfg, opts.batch_size, K);
  const std::vector<ParamInfo>& table = model.params_info();
  const size_t P = model.num_params();
  // Steps run data-parallel over the threads (vae/data_parallel.h) unless free bits (a batch
  // mean inside a max) forbid splitting the batch or the batches are too small to share.
  const int parts = opts.free_bits > 0 ? 1 : data_parallel_parts(num_threads(), opts.batch_size);
  DataParallel<float> steps(model, parts, opts.batch_size, K);
  Adam<float> adam(P, AdamConfig{opts.lr});
  Rng rng(opts.seed);
  TrainState state;
  if (resume) {
    VAE_ASSERT(resume->params.size() == P);
    std::copy(resume->params.begin(), resume->params.end(), model.params());
    if (resume->adam_m.empty())
      throw Error("the checkpoint to resume holds no optimiser state (weights only)");
    adam.m() = resume->adam_m;
    adam.v() = resume->adam_v;
    adam.set_steps(resume->adam_step);
    state = resume->state;
    rng.set_state(state.rng);
  } else {
    model.init_params(rng);
    state.rng = rng.state();
  }
  // The rate in use: the options' rate, or the lowered one of a run that recovered.
  state.lr = state.lr_or(opts.lr);
  adam.set_lr(state.lr);

  for (const char* name : {kLastCheckpoint, kBestCheckpoint, kMetricsFile, kFinalFile})
    remove_stale_temporaries(out_dir, name);
  const std::string metrics_path = out_dir + "/" + kMetricsFile;
  std::vector<std::string> metrics_lines = kept_metrics(metrics_path, state.epoch);

  Batcher batcher(data.train, opts.batch_size, dynamic);
  const int Z = model_cfg.latent;
  std::vector<float> x(static_cast<size_t>(opts.batch_size) * model_cfg.input_dim);  // (B, D)
  std::vector<float> eps(static_cast<size_t>(opts.batch_size) * K * Z);              // (K·B, Z)
  std::vector<int32_t> labels(Y > 0 ? opts.batch_size : 0);                          // (B)
  int32_t* batch_labels = Y > 0 ? labels.data() : nullptr;

  // `good` is the last good state: the start state, then after each epoch what was written to
  // last.safetensors. A non-finite step goes back to it (file comment in vae/trainer.h).
  Checkpoint good;
  good.model = model_cfg;
  good.train = opts;
  good.scaler = scaler;
  auto keep_good = [&] {
    good.state = state;
    good.params.assign(model.params(), model.params() + P);
    good.adam_m = adam.m();
    good.adam_v = adam.v();
    good.adam_step = adam.steps();
  };
  keep_good();
  bool stopped_early = false;
  // Without --clip-grad the norm is still taken, as the check for non-finite gradients; an
  // infinite bound never scales.
  const double max_norm =
      opts.clip_grad > 0 ? opts.clip_grad : std::numeric_limits<double>::infinity();

  auto patience_spent = [&] {
    return has_val && opts.patience > 0 && state.best_epoch > 0 &&
           state.epoch - state.best_epoch >= opts.patience;
  };
  for (int64_t epoch = state.epoch + 1; epoch <= opts.epochs && !patience_spent();) {
    const auto t0 = Clock::now();
    // With parts > 1 each part's thread calls BLAS single-threaded (vae/runtime.h); the
    // evaluation after the loop has BLAS's threads back.
    std::optional<ScopedSerialBlas> serial_blas;
    if (parts > 1) serial_blas.emplace();
    batcher.start_epoch(rng);
    double recon_sum = 0, kl_sum = 0, objective_sum = 0;
    const double batches = static_cast<double>(batcher.batches_per_epoch());
    double beta = opts.kl_weight(static_cast<double>(epoch - 1));
    size_t seen = 0, batch_index = 0;
    std::string nonfinite;  // what was not finite, "" while everything is
    int64_t bad_step = 0;
    for (int B; (B = batcher.next(rng, x.data(), batch_labels)) > 0;) {
      rng.normal_fill(eps.data(), static_cast<size_t>(B) * K * Z);
      beta = opts.kl_weight(static_cast<double>(epoch - 1) + batch_index / batches);
      const auto r = steps.step(x.data(), eps.data(), B, K, batch_labels, iwae, beta,
                                opts.free_bits);
      nonfinite = nonfinite_loss_term(r.loss, iwae ? &r.iw : nullptr);
      bad_step = state.step + 1;
      if (!nonfinite.empty()) break;
      objective_sum += B * r.objective;
      // Without clipping or a hook nothing needs the gradient before the update: reduction,
      // norm and Adam go in one pass (a non-finite norm then leaves non-finite parameters,
      // which the recovery below replaces with the last good state anyway).
      const bool fused = opts.clip_grad <= 0 && !cb.after_backward;
      double grad_sq;
      if (fused) {
        grad_sq = steps.update_fused(adam);
      } else {
        grad_sq = steps.reduce();
        if (cb.after_backward) {
          cb.after_backward(state.step + 1, model.grads(), P);
          grad_sq = sum_squares(model.grads(), P);
        }
      }
      const double norm = std::sqrt(grad_sq);
      if (!std::isfinite(norm)) {
        // Fused, the gradient is gone, but it left NaN in exactly the parameters whose gradient
        // was not finite (DataParallel::update_fused), which name the same tensors.
        const std::string names = nonfinite_tensors(table, fused ? model.params() : model.grads());
        nonfinite = (several(names) ? "gradients of " : "gradient of ") + names;
        break;
      }
      // Global-norm clipping (clip_grad_norm's rule), folded into the update.
      if (!fused) steps.update(adam, norm > max_norm ? static_cast<float>(max_norm / norm) : 1.0f);
      ++state.step;
      recon_sum += r.loss.recon;
      kl_sum += r.loss.kl;
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
    // Finite gradients can still carry a parameter past the float range; such a state must not
    // become a checkpoint (load_checkpoint refuses it) nor the state a recovery returns to.
    if (nonfinite.empty()) {
      const std::string params = nonfinite_tensors(table, model.params());
      if (!params.empty()) {
        nonfinite = (several(params) ? "parameters " : "parameter ") + params;
        bad_step = state.step;
      }
    }
    if (!nonfinite.empty()) {
      const std::string where = "at epoch " + std::to_string(epoch) + ", step " +
                                std::to_string(bad_step) + ": " + nonfinite;
      if (state.recoveries >= opts.max_recoveries) {
        const std::string kept =
            good.state.epoch > 0
                ? std::string(kLastCheckpoint) + " holds epoch " + std::to_string(good.state.epoch) +
                      ", the last good state"
                : "no epoch completed, so no checkpoint was written";
        const std::string tried =
            opts.max_recoveries > 0
                ? " again after " + std::to_string(state.recoveries) +
                      (state.recoveries == 1 ? " recovery" : " recoveries") +
                      " that lowered the lr to " + format_lr(state.lr) +
                      " (--max-recoveries " + std::to_string(opts.max_recoveries) + ")"
                : " (--max-recoveries 0)";
        throw Error("training diverged " + where + (several(nonfinite) ? " are" : " is") +
                    " not finite" + tried + "; " + kept +
                    " (try a smaller --lr or --clip-grad)");
      }
      TrainRecovery r;
      r.epoch = epoch;
      r.step = bad_step;
      r.what = nonfinite;
      r.restored_epoch = good.state.epoch;
      r.old_lr = state.lr;
      r.new_lr = state.lr / 2;
      r.recovery = state.recoveries + 1;
      r.max_recoveries = opts.max_recoveries;
      // Back to the last good state; the lowered rate and the count of recoveries carry on.
      state = good.state;
      state.lr = r.new_lr;
      state.recoveries = r.recovery;
      std::copy(good.params.begin(), good.params.end(), model.params());
      adam.m() = good.adam_m;
      adam.v() = good.adam_v;
      adam.set_steps(good.adam_step);
      adam.set_lr(state.lr);
      rng.set_state(state.rng);
      if (cb.on_recover) cb.on_recover(r);
      continue;  // the same epoch again
    }
    serial_blas.reset();
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
    keep_good();

    // metrics.jsonl, best, then last: last.safetensors commits the epoch (file comment).
    m.seconds = seconds_since(t0);
    metrics_lines.push_back(m.to_json());
    std::ostringstream all;
    for (const auto& line : metrics_lines) all << line << '\n';
    write_file_atomic(metrics_path, all.str());
    if (best) save_checkpoint(out_dir + "/" + kBestCheckpoint, good);
    save_checkpoint(out_dir + "/" + kLastCheckpoint, good);
    if (cb.on_epoch) cb.on_epoch(m);
    if (patience_spent() && epoch < opts.epochs) stopped_early = true;
    ++epoch;
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
