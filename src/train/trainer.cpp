#include "vae/trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include "core/pool.h"
#include "data/batcher.h"
#include "io/fileio.h"
#include "io/safetensors.h"
#include "model/priors/priors.h"
#include "optim/adam.h"
#include "train/data_parallel.h"
#include "train/distributed.h"
#include "vae/error.h"
#include "vae/eval.h"
#include "vae/runtime.h"

namespace vae {

namespace {

using Clock = std::chrono::steady_clock;

// request_stop()'s flag; lock-free, so a signal handler may set it.
std::atomic<bool> stop_flag{false};
static_assert(std::atomic<bool>::is_always_lock_free);

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

void request_stop() { stop_flag.store(true, std::memory_order_relaxed); }
bool stop_requested() { return stop_flag.load(std::memory_order_relaxed); }
void clear_stop_request() { stop_flag.store(false, std::memory_order_relaxed); }

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

std::string epoch_checkpoint_name(int64_t epoch) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "epoch-%04lld.safetensors", static_cast<long long>(epoch));
  return buf;
}

double run_eta_seconds(const TrainProgress& p, double epoch_s) {
  if (p.batch == 0) return 0;
  const double per_batch = p.elapsed_s / static_cast<double>(p.batch);
  const double this_epoch = per_batch * static_cast<double>(p.batches - std::min(p.batch, p.batches));
  const double later = static_cast<double>(std::max<int64_t>(p.epochs - p.epoch, 0)) *
                       (epoch_s > 0 ? epoch_s : per_batch * static_cast<double>(p.batches));
  return this_epoch + later;
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
                        {"lr", lr},
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
  if (interrupted) j["interrupted"] = true;
  return j.dump(2) + "\n";
}

namespace {

// The data must fit the model: as many values per example as it takes, a training set, and with
// conditional classes a label in 0..Y−1 for every example of every split.
void check_data_fits(const ModelConfig& model_cfg, const DataSplits& data) {
  if (data.train.d != static_cast<size_t>(model_cfg.input_dim))
    throw Error(data.source + ": examples have " + std::to_string(data.train.d) +
                " values but the model expects " + std::to_string(model_cfg.input_dim));
  if (data.train.n == 0) throw Error(data.source + ": the training set is empty");
  const int Y = model_cfg.num_classes;
  if (Y <= 0) return;
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

// The held-out splits as training scores them: each epoch on the validation split when there is
// one, else on the test split; the best model on the test split at the end.
struct HeldOut {
  Dataset test, val;
  bool has_val = false;
  const Dataset& per_epoch() const { return has_val ? val : test; }
};

HeldOut held_out(const DataSplits& data, bool dynamic) {
  HeldOut h;
  // Held-out sets are binarised once, with a fixed seed, when training binarises.
  h.test = dynamic ? binarize(data.test, kTestBinarizeSeed) : data.test;
  h.has_val = data.val.n > 0;
  h.val = dynamic && h.has_val ? binarize(data.val, kTestBinarizeSeed) : data.val;
  return h;
}

// One epoch's pass over the training set so far: sums over its examples, and what stopped it.
struct EpochPass {
  double recon_sum = 0, kl_sum = 0, objective_sum = 0;
  double beta = 1;        // β of the schedule at the latest step
  size_t seen = 0;        // examples trained on
  size_t batches = 0;     // steps taken
  std::string nonfinite;  // what was not finite, "" while everything is
  int64_t bad_step = 0;   // the run's step it belongs to
  bool interrupted = false;  // stopped by request_stop() before the end of the epoch
};

// The message of a run that diverged once more after its recoveries were used up.
std::string divergence_message(const std::string& where, const std::string& nonfinite,
                               const TrainState& state, const TrainState& good,
                               int max_recoveries) {
  const std::string kept = good.epoch > 0 ? std::string(kLastCheckpoint) + " holds epoch " +
                                                std::to_string(good.epoch) + ", the last good state"
                                          : "no epoch completed, so no checkpoint was written";
  const std::string tried = max_recoveries > 0
                                ? " again after " + std::to_string(state.recoveries) +
                                      (state.recoveries == 1 ? " recovery" : " recoveries") +
                                      " that lowered the lr to " + format_lr(state.lr) +
                                      " (--max-recoveries " + std::to_string(max_recoveries) + ")"
                                : " (--max-recoveries 0)";
  return "training diverged " + where + (several(nonfinite) ? " are" : " is") + " not finite" +
         tried + "; " + kept + " (try a smaller --lr or --clip-grad)";
}

// The parts a step splits the batch into. One process: one per thread while each gets 32 rows
// (train/data_parallel.h). Distributed: S shards by the batch alone (train/distributed.h), at
// least one per rank. Free bits (a batch mean inside a max) forbid splitting the batch.
int step_parts(const TrainOptions& opts) {
  if (!distributed())
    return opts.free_bits > 0 ? 1 : data_parallel_parts(num_threads(), opts.batch_size);
  return rank_shards(opts.batch_size, opts.free_bits > 0);
}

// Distributed with overlap: each transfer of shard p is a broadcast from the rank that runs it,
// posted while the backward passes run (train/data_parallel.h).
class ShardExchange final : public PartExchange {
 public:
  explicit ShardExchange(int shards) : shards_(shards) {}
  void post(int part, void* data, size_t bytes) override {
    queue_.post(data, bytes, shard_owner(part, shards_, world_size()));
  }
  void progress() override { queue_.progress(); }
  void wait() override { queue_.wait(); }

 private:
  int shards_;
  BroadcastQueue queue_;
};

// Distributed: this rank's shards, run on its threads; each shard's gradient and figures
// broadcast from the rank that ran it (train/distributed.h): through `exchange` during the
// backward passes, or without it (nullptr) after this rank's last shard.
PartSharing<float> rank_sharing(int shards, PartExchange* exchange) {
  PartSharing<float> s;
  const int N = world_size(), r = world_rank();
  s.first = first_shard(r, shards, N);
  s.last = first_shard(r + 1, shards, N);
  s.workers = num_threads();
  s.exchange = exchange;
  s.share = [shards, N](int p, float* grads, size_t n, double* fields) {
    const int owner = shard_owner(p, shards, N);
    broadcast_bytes(grads, n * sizeof(float), owner);
    broadcast_bytes(fields, kSharedResultFields * sizeof(double), owner);
  };
  return s;
}

// Whether to stop: request_stop() was called here, or, distributed, on any rank (which then
// counts as a request here too, so that every rank's caller sees the stop).
bool stop_agreed() {
  if (!any_rank(stop_requested())) return false;
  request_stop();
  return true;
}

// One call of train(): the model, its optimiser and data-parallel steps, the training RNG and
// TrainState, and `good`, the last good state (file comment in vae/trainer.h). Its steps in
// order: start(), then run_epochs(), then finish().
class TrainingRun {
 public:
  TrainingRun(const std::string& out_dir, const ModelConfig& model_cfg, const TrainOptions& opts,
              const DataSplits& data, const Scaler& scaler, const HeldOut& held, bool dynamic,
              bool iwae, const TrainCallbacks& cb);
  TrainingRun(const TrainingRun&) = delete;
  TrainingRun& operator=(const TrainingRun&) = delete;

  // From `resume`'s state, or from freshly initialised parameters when it is null; removes the
  // temporaries killed runs left and keeps the earlier run's metrics lines up to its epoch.
  void start(const Checkpoint* resume);
  // Epochs until opts.epochs or early stopping, each committed by its files.
  void run_epochs();
  // final.json: the best checkpoint's figures on the held-out splits.
  void finish();
  // What the checkpoints say of the data: the sources' fingerprints and the split the best
  // model is chosen on.
  void describe_data(const SourceFingerprints& prints);

 private:
  EpochPass train_epoch(int64_t epoch, Clock::time_point t0);
  bool step(int B, EpochPass* pass);
  void share_start();
  double reduce_gradient();
  void report_progress(int64_t epoch, const EpochPass& pass, Clock::time_point t0) const;
  void check_parameters(EpochPass* pass) const;
  void recover(int64_t epoch, const EpochPass& pass);
  void end_epoch(int64_t epoch, const EpochPass& pass, Clock::time_point t0);
  void write_epoch_files(const EpochMetrics& m, bool best);
  void restore(const Checkpoint& c);
  void keep_good();
  void set_lr(double lr);
  void apply_lr_schedule(int64_t epoch);
  void count_plateau(int64_t epoch);
  bool patience_spent() const;

  const std::string& out_dir_;
  const ModelConfig& model_cfg_;
  const TrainOptions& opts_;
  const HeldOut& held_;
  const TrainCallbacks& cb_;
  const bool iwae_;
  const int K_;  // samples per example: opts.k for IWAE, else 1
  const int Z_;
  Vae<float> model_;
  const size_t P_;
  const int parts_;
  const bool writes_;  // this process writes the run's files (rank 0, or not distributed)
  ShardExchange exchange_;            // distributed with overlap: the shards' transfers
  const PartSharing<float> sharing_;  // distributed: this rank's shards
  DataParallel<float> steps_;
  Adam<float> adam_;
  Rng rng_;
  TrainState state_;
  Batcher batcher_;
  std::vector<float> x_;         // (B, D)
  std::vector<float> eps_;       // (K·B, Z)
  std::vector<int32_t> labels_;  // (B) for a conditional model, else empty
  int32_t* batch_labels_;
  const double max_norm_;
  const std::string metrics_path_;
  std::vector<std::string> metrics_lines_;
  // `good` is the last good state: the start state, then after each epoch what was written to
  // last.safetensors. A non-finite step goes back to it (file comment in vae/trainer.h).
  Checkpoint good_;
  bool stopped_early_ = false;
  bool interrupted_ = false;
  double last_epoch_s_ = 0;  // wall time of the last completed epoch, for the run's ETA
};

TrainingRun::TrainingRun(const std::string& out_dir, const ModelConfig& model_cfg,
                         const TrainOptions& opts, const DataSplits& data, const Scaler& scaler,
                         const HeldOut& held, bool dynamic, bool iwae, const TrainCallbacks& cb)
    : out_dir_(out_dir),
      model_cfg_(model_cfg),
      opts_(opts),
      held_(held),
      cb_(cb),
      iwae_(iwae),
      K_(iwae ? opts.k : 1),
      Z_(model_cfg.latent),
      model_(model_cfg, opts.batch_size, K_),
      P_(model_.num_params()),
      // Steps run data-parallel over the threads (train/data_parallel.h), or over the ranks of
      // an MPI job (train/distributed.h).
      parts_(step_parts(opts)),
      writes_(is_root_rank()),
      exchange_(parts_),
      sharing_(distributed()
                   ? rank_sharing(parts_, distributed_overlap() ? &exchange_ : nullptr)
                   : PartSharing<float>{}),
      steps_(model_, parts_, opts.batch_size, K_, distributed() ? &sharing_ : nullptr),
      adam_(P_, AdamConfig{opts.lr, 0.9, 0.999, 1e-8, opts.weight_decay}),
      rng_(opts.seed),
      batcher_(data.train, opts.batch_size, dynamic),
      x_(static_cast<size_t>(opts.batch_size) * model_cfg.input_dim),
      eps_(static_cast<size_t>(opts.batch_size) * K_ * Z_),
      labels_(model_cfg.num_classes > 0 ? opts.batch_size : 0),
      batch_labels_(model_cfg.num_classes > 0 ? labels_.data() : nullptr),
      // Without --clip-grad the norm is still taken, as the check for non-finite gradients; an
      // infinite bound never scales.
      max_norm_(opts.clip_grad > 0 ? opts.clip_grad : std::numeric_limits<double>::infinity()),
      metrics_path_(out_dir + "/" + kMetricsFile) {
  good_.model = model_cfg;
  good_.train = opts;
  good_.scaler = scaler;
  good_.class_names = data.train.class_names;
}

// TrainOptions::init_from: the checkpoint's weights into `params`, laid out by `table` (this
// run's model), after checking that its model has exactly this parameter table.
void copy_init_weights(const std::string& path, const std::vector<ParamInfo>& table,
                       float* params) {
  const Checkpoint init = load_checkpoint(path);
  const std::vector<ParamInfo> theirs = param_table(init.model);
  for (size_t i = 0; i < std::max(table.size(), theirs.size()); ++i) {
    const ParamInfo* mine = i < table.size() ? &table[i] : nullptr;
    const ParamInfo* other = i < theirs.size() ? &theirs[i] : nullptr;
    if (mine && other && mine->name == other->name && mine->shape == other->shape) continue;
    const std::string name = mine ? mine->name : other->name;
    throw FieldError("init_from", path + ": its model (" + init.model.describe() +
                                      ") does not match this run's (tensor '" + name + "' is " +
                                      (other ? shape_string(other->shape) : "absent") +
                                      " there, " + (mine ? shape_string(mine->shape) : "absent") +
                                      " here)");
  }
  std::copy(init.params.begin(), init.params.end(), params);
}

void TrainingRun::start(const Checkpoint* resume) {
  if (resume) {
    if (resume->adam_m.empty())
      throw Error("the checkpoint to resume holds no optimiser state (weights only)");
    restore(*resume);
  } else if (!opts_.init_from.empty()) {
    model_.init_params(rng_);  // the same draws as a run without init_from: the RNG stays in step
    copy_init_weights(opts_.init_from, model_.params_info(), model_.params());
    state_.rng = rng_.state();
  } else {
    model_.init_params(rng_);
    state_.rng = rng_.state();
  }
  share_start();
  // The rate in use: the options' rate, or the lowered one of a run that recovered.
  set_lr(state_.lr_or(opts_.lr));
  if (writes_) {
    for (const char* name : {kLastCheckpoint, kBestCheckpoint, kMetricsFile, kFinalFile})
      remove_stale_temporaries(out_dir_, name);
    metrics_lines_ = kept_metrics(metrics_path_, state_.epoch);
  }
  keep_good();
}

// Distributed: every rank starts from rank 0's parameters and Adam moments (the same on every
// rank when they come from the same seed or checkpoint; broadcast so that they are).
void TrainingRun::share_start() {
  if (!distributed()) return;
  broadcast_bytes(model_.params(), P_ * sizeof(float), 0);
  broadcast_bytes(adam_.m().data(), adam_.m().size() * sizeof(float), 0);
  broadcast_bytes(adam_.v().data(), adam_.v().size() * sizeof(float), 0);
}

void TrainingRun::run_epochs() {
  for (int64_t epoch = state_.epoch + 1; epoch <= opts_.epochs && !patience_spent();) {
    const auto t0 = Clock::now();
    if ((interrupted_ = stop_agreed())) break;
    apply_lr_schedule(epoch);
    const EpochPass pass = train_epoch(epoch, t0);
    // Stopped mid-epoch: the state stays that of the last completed epoch (file comment).
    if ((interrupted_ = pass.interrupted)) break;
    if (!pass.nonfinite.empty()) {
      recover(epoch, pass);
      continue;  // the same epoch again
    }
    end_epoch(epoch, pass, t0);
    if (patience_spent() && epoch < opts_.epochs) stopped_early_ = true;
    ++epoch;
  }
}

// Steps over the epoch's batches until the end or the first non-finite step.
EpochPass TrainingRun::train_epoch(int64_t epoch, Clock::time_point t0) {
  // With parts > 1 each part's thread calls BLAS single-threaded (vae/runtime.h); the
  // evaluation after the epoch has BLAS's threads back.
  std::optional<ScopedSerialBlas> serial_blas;
  if (parts_ > 1) serial_blas.emplace();
  batcher_.start_epoch(rng_);
  EpochPass pass;
  const double batches = static_cast<double>(batcher_.batches_per_epoch());
  pass.beta = opts_.kl_weight(static_cast<double>(epoch - 1));
  for (int B; (B = batcher_.next(rng_, x_.data(), batch_labels_)) > 0;) {
    rng_.normal_fill(eps_.data(), static_cast<size_t>(B) * K_ * Z_);
    pass.beta = opts_.kl_weight(static_cast<double>(epoch - 1) + pass.batches / batches);
    if (!step(B, &pass)) break;
    report_progress(epoch, pass, t0);
    if (stop_agreed() && pass.batches < batcher_.batches_per_epoch()) {
      pass.interrupted = true;
      break;
    }
  }
  check_parameters(&pass);
  return pass;
}

// One optimiser step on the batch in x_ (B rows) and eps_. Returns false, with pass->nonfinite
// saying why, when the loss or the gradient is not finite; the step is then not taken.
bool TrainingRun::step(int B, EpochPass* pass) {
  const auto r =
      steps_.step(x_.data(), eps_.data(), B, K_, batch_labels_, iwae_, pass->beta, opts_.free_bits);
  pass->nonfinite = nonfinite_loss_term(r.loss, iwae_ ? &r.iw : nullptr);
  pass->bad_step = state_.step + 1;
  if (!pass->nonfinite.empty()) return false;
  pass->objective_sum += B * r.objective;
  // Without clipping or a hook nothing needs the gradient before the update: reduction,
  // norm and Adam go in one pass (a non-finite norm then leaves non-finite parameters,
  // which the recovery replaces with the last good state anyway).
  const bool fused = opts_.clip_grad <= 0 && !cb_.after_backward;
  const double grad_sq = fused ? steps_.update_fused(adam_) : reduce_gradient();
  const double norm = std::sqrt(grad_sq);
  if (!std::isfinite(norm)) {
    // Fused, the gradient is gone, but it left NaN in exactly the parameters whose gradient
    // was not finite (DataParallel::update_fused), which name the same tensors.
    const std::string names =
        nonfinite_tensors(model_.params_info(), fused ? model_.params() : model_.grads());
    pass->nonfinite = (several(names) ? "gradients of " : "gradient of ") + names;
    return false;
  }
  // Global-norm clipping (clip_grad_norm's rule), folded into the update.
  if (!fused) steps_.update(adam_, norm > max_norm_ ? static_cast<float>(max_norm_ / norm) : 1.0f);
  ++state_.step;
  pass->recon_sum += r.loss.recon;
  pass->kl_sum += r.loss.kl;
  pass->seen += B;
  ++pass->batches;
  return true;
}

// The parts' gradients summed into model_.grads(), shown to the after_backward hook (which may
// change them); returns their Σ g².
double TrainingRun::reduce_gradient() {
  double grad_sq = steps_.reduce();
  if (cb_.after_backward) {
    cb_.after_backward(state_.step + 1, model_.grads(), P_);
    grad_sq = sum_squares(model_.grads(), P_);
  }
  return grad_sq;
}

void TrainingRun::report_progress(int64_t epoch, const EpochPass& pass,
                                  Clock::time_point t0) const {
  if (!cb_.on_batch) return;
  TrainProgress p;
  p.epoch = epoch;
  p.epochs = opts_.epochs;
  p.batch = pass.batches;
  p.batches = batcher_.batches_per_epoch();
  p.loss = (pass.recon_sum + pass.kl_sum) / pass.seen;
  p.elapsed_s = seconds_since(t0);
  p.examples_per_s = pass.seen / std::max(p.elapsed_s, 1e-9);
  p.eta_s = run_eta_seconds(p, last_epoch_s_);
  cb_.on_batch(p);
}

// Finite gradients can still carry a parameter past the float range; such a state must not
// become a checkpoint (load_checkpoint refuses it) nor the state a recovery returns to.
void TrainingRun::check_parameters(EpochPass* pass) const {
  if (!pass->nonfinite.empty()) return;
  const std::string params = nonfinite_tensors(model_.params_info(), model_.params());
  if (params.empty()) return;
  pass->nonfinite = (several(params) ? "parameters " : "parameter ") + params;
  pass->bad_step = state_.step;
}

// After a non-finite step: back to the last good state with half the learning rate, or, when
// the run's recoveries are used up, vae::Error.
void TrainingRun::recover(int64_t epoch, const EpochPass& pass) {
  const std::string where = "at epoch " + std::to_string(epoch) + ", step " +
                            std::to_string(pass.bad_step) + ": " + pass.nonfinite;
  if (state_.recoveries >= opts_.max_recoveries)
    throw Error(
        divergence_message(where, pass.nonfinite, state_, good_.state, opts_.max_recoveries));
  TrainRecovery r;
  r.epoch = epoch;
  r.step = pass.bad_step;
  r.what = pass.nonfinite;
  r.restored_epoch = good_.state.epoch;
  r.old_lr = state_.lr;
  r.new_lr = state_.lr / 2;
  r.recovery = state_.recoveries + 1;
  r.max_recoveries = opts_.max_recoveries;
  // Back to the last good state; the lowered rate and the count of recoveries carry on.
  restore(good_);
  state_.recoveries = r.recovery;
  set_lr(r.new_lr);
  if (cb_.on_recover) cb_.on_recover(r);
}

// A completed epoch: scored on the held-out split, kept as the good state and committed.
void TrainingRun::end_epoch(int64_t epoch, const EpochPass& pass, Clock::time_point t0) {
  const double train_s = seconds_since(t0);
  EpochMetrics m;
  m.epoch = epoch;
  m.train_recon = pass.recon_sum / pass.seen;
  m.train_kl = pass.kl_sum / pass.seen;
  m.train_objective = pass.objective_sum / pass.seen;
  m.kl_weight = pass.beta;
  m.lr = adam_.config().lr;
  m.train_loss = m.train_recon + m.train_kl;
  const Dataset& held = held_.per_epoch();
  // Distributed: the held-out batches split over the ranks, every rank then holding the
  // figures of one process, so that the best epoch, the plateau count and early stopping are
  // decided alike (vae/eval.h).
  const ElboResult te = evaluate_elbo(model_, held, kEvalSeed, false, /*over_ranks=*/true);
  m.on_val = held_.has_val;
  m.test_loss = te.loss;
  m.test_recon = te.recon;
  m.test_kl = te.kl;
  m.examples_per_s = pass.seen / std::max(train_s, 1e-9);

  state_.epoch = epoch;
  state_.rng = rng_.state();
  const bool best = held.n > 0 ? te.loss < state_.best_test_loss : true;
  if (best) {
    state_.best_test_loss = held.n > 0 ? te.loss : state_.best_test_loss;
    state_.best_epoch = epoch;
  }
  count_plateau(epoch);
  keep_good();
  m.seconds = seconds_since(t0);
  if (writes_) write_epoch_files(m, best);
  last_epoch_s_ = seconds_since(t0);
  if (cb_.on_epoch) cb_.on_epoch(m);
}

// metrics.jsonl, best, the epoch's own checkpoint (save_every), then last: last.safetensors
// commits the epoch (file comment).
void TrainingRun::write_epoch_files(const EpochMetrics& m, bool best) {
  metrics_lines_.push_back(m.to_json());
  std::ostringstream all;
  for (const auto& line : metrics_lines_) all << line << '\n';
  write_file_atomic(metrics_path_, all.str());
  if (best) save_checkpoint(out_dir_ + "/" + kBestCheckpoint, good_);
  if (opts_.save_every > 0 && m.epoch % opts_.save_every == 0)
    save_checkpoint(out_dir_ + "/" + epoch_checkpoint_name(m.epoch), good_);
  save_checkpoint(out_dir_ + "/" + kLastCheckpoint, good_);
}

void TrainingRun::finish() {
  // The best model's figures on the held-out splits; the test set is scored here for the first
  // time when a validation split chose the model.
  const std::string best_path = out_dir_ + "/" + kBestCheckpoint;
  if (!writes_) return;  // distributed: rank 0 alone reads and writes the run's files
  if (state_.epoch == 0 || !std::ifstream(best_path)) return;
  const Checkpoint best = load_checkpoint(best_path);
  std::copy(best.params.begin(), best.params.end(), model_.params());
  FinalMetrics f;
  f.best_epoch = best.state.epoch;
  f.epochs_run = state_.epoch;
  f.stopped_early = stopped_early_ || patience_spent();
  f.interrupted = interrupted_;
  f.has_val = held_.has_val;
  f.val_loss = held_.has_val ? best.state.best_test_loss : 0;
  const ElboResult te = evaluate_elbo(model_, held_.test);
  f.test_loss = te.loss;
  f.test_recon = te.recon;
  f.test_kl = te.kl;
  write_file_atomic(out_dir_ + "/" + kFinalFile, f.to_json(likelihood_name(model_cfg_)));
  if (cb_.on_final) cb_.on_final(f);
}

void TrainingRun::describe_data(const SourceFingerprints& prints) {
  good_.data_prints = prints;
  good_.selected_on = held_.has_val ? "val" : "test";
}

// The parameters, Adam's moments and step count, the TrainState and the training RNG from `c`.
void TrainingRun::restore(const Checkpoint& c) {
  VAE_ASSERT(c.params.size() == P_);
  std::copy(c.params.begin(), c.params.end(), model_.params());
  adam_.m() = c.adam_m;
  adam_.v() = c.adam_v;
  adam_.set_steps(c.adam_step);
  state_ = c.state;
  rng_.set_state(state_.rng);
}

// The inverse of restore(): the current state becomes the last good one.
void TrainingRun::keep_good() {
  good_.state = state_;
  good_.params.assign(model_.params(), model_.params() + P_);
  good_.adam_m = adam_.m();
  good_.adam_v = adam_.v();
  good_.adam_step = adam_.steps();
}

void TrainingRun::set_lr(double lr) {
  state_.lr = lr;
  adam_.set_lr(lr);
}

// The rate of `epoch` (1-based) from the schedule over the base rate state_.lr (options.lr, or
// what recoveries lowered it to); TrainOptions::lr_schedule has the rules.
void TrainingRun::apply_lr_schedule(int64_t epoch) {
  adam_.set_lr(opts_.lr_schedule.rate(state_.lr, epoch - 1, opts_.epochs, state_.lr_reductions));
}

// Plateau: a reduction once the held-out loss has gone P epochs without a new best since the
// best epoch or the latest reduction, whichever is later.
void TrainingRun::count_plateau(int64_t epoch) {
  if (opts_.lr_schedule.kind != LrSchedule::Kind::Plateau) return;
  const int64_t since = epoch - std::max(state_.best_epoch, state_.last_reduction_epoch);
  if (since < opts_.lr_schedule.every) return;
  ++state_.lr_reductions;
  state_.last_reduction_epoch = epoch;
}

bool TrainingRun::patience_spent() const {
  return held_.has_val && opts_.patience > 0 && state_.best_epoch > 0 &&
         state_.epoch - state_.best_epoch >= opts_.patience;
}

}  // namespace

void train(const std::string& out_dir, const ModelConfig& model_cfg, const TrainOptions& opts,
           const DataSplits& data, const Scaler& scaler, const Checkpoint* resume,
           const TrainCallbacks& cb, const SourceFingerprints& prints) {
  opts.validate();
  model_cfg.validate();
  check_prior_training(model_cfg, opts.free_bits);
  check_data_fits(model_cfg, data);
  check_splits_for_training(data, opts.data);
  const bool dynamic = opts.binarize == Binarize::Dynamic;
  const HeldOut held = held_out(data, dynamic);
  const bool iwae = opts.objective == Objective::Iwae;
  TrainingRun run(out_dir, model_cfg, opts, data, scaler, held, dynamic, iwae, cb);
  run.describe_data(prints);
  run.start(resume);
  run.run_epochs();
  run.finish();
}

}  // namespace vae
