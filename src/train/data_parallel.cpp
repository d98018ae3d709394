// Data-parallel training steps (include/vae/data_parallel.h has the math).
#include "vae/data_parallel.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "vae/error.h"

namespace vae {

template <class T>
DataParallel<T>::DataParallel(Vae<T>& model, int parts, int max_batch, int max_samples)
    : model_(model),
      parts_(std::max(1, parts)),
      eps_(static_cast<size_t>(parts_)),
      results_(static_cast<size_t>(parts_)),
      grad_sq_(static_cast<size_t>(parts_)) {
  VAE_ASSERT(max_batch >= 1 && max_samples >= 1);
  VAE_ASSERT(max_batch <= model.max_batch() && max_samples <= model.max_samples());
  if (parts_ == 1) return;
  const int rows = (max_batch + parts_ - 1) / parts_;
  for (int p = 1; p < parts_; ++p)
    replicas_.push_back(std::make_unique<Vae<T>>(model.config(), rows, max_samples));
  if (max_samples > 1)
    for (auto& e : eps_)
      e.resize(static_cast<size_t>(rows) * max_samples * model.config().latent);
  sync_params();
  pool_ = std::make_unique<WorkerPool>(parts_);
}

template <class T>
DataParallel<T>::~DataParallel() = default;

template <class T>
size_t DataParallel<T>::par0(int i) const {
  // Ranges of whole cache lines (16 floats), the last one taking the remainder.
  const size_t n = model_.num_params();
  const size_t per = (n / parts_) & ~size_t{15};
  return i >= parts_ ? n : static_cast<size_t>(i) * per;
}

template <class T>
void DataParallel<T>::sync_params() {
  const size_t n = model_.num_params();
  for (auto& r : replicas_) std::memcpy(r->params(), model_.params(), n * sizeof(T));
}

template <class T>
typename DataParallel<T>::StepResult DataParallel<T>::step(const T* x, const T* eps, int B, int K,
                                                           const int32_t* labels, bool iwae,
                                                           double beta, double free_bits) {
  VAE_ASSERT(B >= 1 && K >= 1 && (iwae || K == 1));
  VAE_ASSERT(free_bits == 0.0 || parts_ == 1);
  const int D = model_.config().input_dim, Z = model_.config().latent;
  const size_t n = model_.num_params();

  // Forward and backward of part p on its replica; rows b0..b1 of the batch.
  auto run_part = [&](int p) {
    StepResult& r = results_[static_cast<size_t>(p)];
    r = StepResult{};
    const int b0 = row0(p, B), Bp = row0(p + 1, B) - b0;
    if (Bp == 0) return;
    Vae<T>& m = p == 0 ? model_ : *replicas_[static_cast<size_t>(p - 1)];
    const T* xp = x + static_cast<size_t>(b0) * D;
    const int32_t* lp = labels ? labels + b0 : nullptr;
    m.zero_grad();
    if (iwae) {
      // Part p's ε in forward_iw's layout: row k·B_p + i is row k·B + b0 + i of the batch's.
      const T* ep = eps;
      if (parts_ > 1) {
        T* e = eps_[static_cast<size_t>(p)].data();
        for (int k = 0; k < K; ++k)
          std::memcpy(e + static_cast<size_t>(k) * Bp * Z,
                      eps + (static_cast<size_t>(k) * B + b0) * Z,
                      static_cast<size_t>(Bp) * Z * sizeof(T));
        ep = e;
      }
      r.loss = m.forward_iw(xp, ep, Bp, K, lp);
      r.iw = m.iw_objective();
      r.finite = std::isfinite(r.loss.recon) && std::isfinite(r.loss.kl) && std::isfinite(r.iw);
      if (r.finite) r.objective = m.backward(xp, Bp);
    } else {
      r.loss = m.forward(xp, eps + static_cast<size_t>(b0) * Z, Bp, lp);
      r.finite = std::isfinite(r.loss.recon) && std::isfinite(r.loss.kl);
      if (r.finite) r.objective = m.backward(xp, Bp, beta, free_bits);
    }
  };

  StepResult out;
  if (parts_ == 1) {
    run_part(0);
    out = results_[0];
  } else {
    pool_->run(run_part);
    for (int p = 0; p < parts_; ++p) {  // fixed order: deterministic sums
      const StepResult& r = results_[static_cast<size_t>(p)];
      const double w = static_cast<double>(row0(p + 1, B) - row0(p, B)) / B;
      out.loss.recon += r.loss.recon;
      out.loss.kl += r.loss.kl;
      out.iw += r.iw;
      out.objective += w * r.objective;
      out.finite = out.finite && r.finite;
    }
  }
  if (!out.finite) return out;

  if (parts_ == 1) {
    out.grad_sq = sum_squares(model_.grads(), n);
    return out;
  }
  // g = Σ_p (B_p / B) g_p over each thread's parameter range, parts in order.
  pool_->run([&](int i) {
    const size_t lo = par0(i), hi = par0(i + 1);
    T* g = model_.grads();
    const T w0 = static_cast<T>(static_cast<double>(row0(1, B)) / B);
    for (size_t j = lo; j < hi; ++j) g[j] *= w0;
    for (int p = 1; p < parts_; ++p) {
      const int Bp = row0(p + 1, B) - row0(p, B);
      if (Bp == 0) continue;
      const T w = static_cast<T>(static_cast<double>(Bp) / B);
      const T* gp = replicas_[static_cast<size_t>(p - 1)]->grads();
      for (size_t j = lo; j < hi; ++j) g[j] += w * gp[j];
    }
    grad_sq_[static_cast<size_t>(i)] = sum_squares(g + lo, hi - lo);
  });
  for (int i = 0; i < parts_; ++i) out.grad_sq += grad_sq_[static_cast<size_t>(i)];
  return out;
}

template <class T>
void DataParallel<T>::update(Adam<T>& adam, T grad_scale) {
  const size_t n = model_.num_params();
  VAE_ASSERT(adam.size() == n);
  adam.begin_step();
  if (parts_ == 1) {
    adam.update(model_.params(), model_.grads(), 0, n, grad_scale);
    return;
  }
  pool_->run([&](int i) {
    const size_t lo = par0(i), hi = par0(i + 1);
    adam.update(model_.params(), model_.grads(), lo, hi, grad_scale);
    for (auto& r : replicas_)
      std::memcpy(r->params() + lo, model_.params() + lo, (hi - lo) * sizeof(T));
  });
}

template class DataParallel<float>;
template class DataParallel<double>;

}  // namespace vae
