// The inference API (include/vae/infer.h): checked views in, the checkpoint's scaling on the way
// in and out, the model's own math (Vae, vae/eval.h) in between, each call on a borrowed
// workspace (infer/workspace_pool.h).
#include <cmath>
#include <string>
#include <vector>

#include "infer/workspace_pool.h"
#include "vae/error.h"
#include "vae/eval.h"
#include "vae/infer.h"
#include "vae/rng.h"

namespace vae {

namespace {

// Rows per workspace pass: what `vae encode` uses, so the API's numbers are the command's.
constexpr int kChunk = 256;

// Throws vae::Error "<name>: ..." unless v has `rows` rows of `cols` values and memory for them.
void check_view(const char* name, ConstView v, size_t rows, const char* rows_from, size_t cols,
                const char* cols_what) {
  if (v.cols != cols)
    throw Error(std::string(name) + ": has " + std::to_string(v.cols) + " columns, " + cols_what +
                " is " + std::to_string(cols));
  if (v.rows != rows)
    throw Error(std::string(name) + ": has " + std::to_string(v.rows) + " rows, " + rows_from +
                " has " + std::to_string(rows));
  if (!v.data && v.size() > 0) throw Error(std::string(name) + ": no memory (null data)");
}

}  // namespace

struct Model::Impl {
  ModelConfig cfg;
  Scaler scaler;
  std::unique_ptr<Vae<float>> weights;  // holds the parameters; workspaces share them
  std::unique_ptr<WorkspacePool> pool;

  explicit Impl(const Checkpoint& ckpt) : cfg(ckpt.model), scaler(ckpt.scaler) {
    weights = std::make_unique<Vae<float>>(model_from_checkpoint(ckpt, 1));
    pool = std::make_unique<WorkspacePool>(*weights, kChunk);
  }

  size_t D() const { return static_cast<size_t>(cfg.input_dim); }
  size_t Z() const { return static_cast<size_t>(cfg.latent); }
  // check_view for rows of data (D values each) and of latents (Z values each).
  void check_data(const char* name, ConstView v, size_t rows, const char* rows_from) const {
    check_view(name, v, rows, rows_from, D(), "the model's data size");
  }
  void check_latent(const char* name, ConstView v, size_t rows, const char* rows_from) const {
    check_view(name, v, rows, rows_from, Z(), "the model's latent size");
  }

  // The labels pointer Vae takes for `rows` rows, after checking them against the model.
  const int32_t* check_labels(LabelView labels, size_t rows, const char* rows_from) const {
    if (cfg.num_classes == 0) {
      if (labels.data || labels.size)
        throw Error("labels: the model is not conditional; pass none");
      return nullptr;
    }
    if (labels.size != rows || (!labels.data && rows > 0))
      throw Error("labels: the model is conditional (" + std::to_string(cfg.num_classes) +
                  " classes) and needs one label per row: got " + std::to_string(labels.size) +
                  ", " + rows_from + " has " + std::to_string(rows));
    for (size_t i = 0; i < rows; ++i)
      if (labels.data[i] < 0 || labels.data[i] >= cfg.num_classes)
        throw Error("labels[" + std::to_string(i) + "]: must be in 0.." +
                    std::to_string(cfg.num_classes - 1) + ", got " +
                    std::to_string(labels.data[i]));
    return labels.data;
  }

  // x as the model sees it: a scaled copy of the rows (a Dataset, what vae/eval.h reads).
  Dataset scaled(ConstView x, const int32_t* labels) const {
    Dataset d;
    d.n = x.rows;
    d.d = x.cols;
    d.x.assign(x.data, x.data + x.size());
    if (labels) d.labels.assign(labels, labels + x.rows);
    scaler.apply(d);
    return d;
  }
};

Model Model::load(const std::string& path) { return Model(load_checkpoint(path)); }

Model::Model(const Checkpoint& ckpt) : impl_(std::make_unique<Impl>(ckpt)) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

const ModelConfig& Model::config() const { return impl_->cfg; }
const Scaler& Model::scaler() const { return impl_->scaler; }
size_t Model::input_dim() const { return impl_->D(); }
size_t Model::latent() const { return impl_->Z(); }
int Model::num_classes() const { return impl_->cfg.num_classes; }

void Model::encode(ConstView x, MutView mu, MutView logvar, LabelView labels) const {
  const Impl& m = *impl_;
  m.check_data("x", x, x.rows, "x");
  m.check_latent("mu", mu, x.rows, "x");
  m.check_latent("logvar", logvar, x.rows, "x");
  const int32_t* y = m.check_labels(labels, x.rows, "x");
  if (x.rows == 0) return;
  const Dataset in = m.scaled(x, y);
  m.pool->acquire().model().encode(in.x.data(), x.rows, mu.data, logvar.data, y);
}

void Model::decode(ConstView z, MutView x, LabelView labels) const {
  const Impl& m = *impl_;
  m.check_latent("z", z, z.rows, "z");
  m.check_data("x", x, z.rows, "z");
  const int32_t* y = m.check_labels(labels, z.rows, "z");
  if (z.rows == 0) return;
  m.pool->acquire().model().decode(z.data, z.rows, x.data, y);
  m.scaler.invert(x.data, x.rows);
}

void Model::sample(uint64_t seed, MutView x, LabelView labels) const {
  const Impl& m = *impl_;
  m.check_data("x", x, x.rows, "x");
  m.check_labels(labels, x.rows, "x");
  std::vector<float> z(x.rows * m.Z());  // (B, Z) ~ p(z), the model's prior
  Rng rng(seed);
  m.pool->acquire().model().sample_prior(z.data(), x.rows, rng);
  decode(ConstView(z.data(), x.rows, m.Z()), x, labels);
}

void Model::reconstruct(ConstView x, MutView x_hat, LabelView labels) const {
  const Impl& m = *impl_;
  m.check_data("x", x, x.rows, "x");
  m.check_data("x_hat", x_hat, x.rows, "x");
  const int32_t* y = m.check_labels(labels, x.rows, "x");
  if (x.rows == 0) return;
  std::vector<float> mu(x.rows * m.Z()), logvar(mu.size());  // (B, Z) each
  const Dataset in = m.scaled(x, y);
  {
    const WorkspacePool::Lease ws = m.pool->acquire();
    ws.model().encode(in.x.data(), x.rows, mu.data(), logvar.data(), y);
    ws.model().decode(mu.data(), x.rows, x_hat.data, y);
  }
  m.scaler.invert(x_hat.data, x.rows);
}

void Model::score(ConstView x, MutView scores, const ScoreOptions& opts, LabelView labels) const {
  const Impl& m = *impl_;
  m.check_data("x", x, x.rows, "x");
  check_view("scores", scores, x.rows, "x", 1, "one score per row");
  if (opts.importance_samples < 0 || opts.importance_samples > 100000)
    throw FieldError("importance_samples",
                     "must be in 0..100000, got " + std::to_string(opts.importance_samples));
  const int32_t* y = m.check_labels(labels, x.rows, "x");
  if (x.rows == 0) return;
  const Dataset in = m.scaled(x, y);
  if (opts.importance_samples > 0) {
    // The importance-weighted bound runs its own per-worker models over the shared weights.
    const IwResult iw = evaluate_iw(*m.weights, in, opts.importance_samples, opts.seed);
    for (size_t i = 0; i < x.rows; ++i) scores.data[i] = static_cast<float>(-iw.per_example[i]);
    return;
  }
  const ElboResult elbo =
      evaluate_elbo(m.pool->acquire().model(), in, opts.seed, /*per_example=*/true);
  for (size_t i = 0; i < x.rows; ++i)
    scores.data[i] = static_cast<float>(static_cast<double>(elbo.recon_rows[i]) + elbo.kl_rows[i]);
}

}  // namespace vae
