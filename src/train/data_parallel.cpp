// Data-parallel training steps (src/train/data_parallel.h has the math).
#include "train/data_parallel.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/pool.h"
#include "vae/error.h"

namespace vae {

std::vector<GradRange> gradient_buckets(const std::vector<GradRange>& ranges, size_t max_elems,
                                        std::vector<int>* bucket_end) {
  std::vector<GradRange> buckets;
  bucket_end->assign(ranges.size(), -1);
  for (size_t i = 0; i < ranges.size(); ++i) {
    const GradRange r = ranges[i];
    GradRange* last = buckets.empty() ? nullptr : &buckets.back();
    const bool below = last && r.hi == last->lo, above = last && r.lo == last->hi;
    if ((below || above) && last->hi - last->lo + (r.hi - r.lo) <= max_elems) {
      (*bucket_end)[i - 1] = -1;  // the bucket grows: slice i completes it now
      if (below) last->lo = r.lo;
      else last->hi = r.hi;
    } else {
      buckets.push_back(r);
    }
    (*bucket_end)[i] = static_cast<int>(buckets.size()) - 1;
  }
  return buckets;
}

template <class T>
DataParallel<T>::DataParallel(Vae<T>& model, int parts, int max_batch, int max_samples,
                              const PartSharing<T>* sharing)
    : model_(model),
      parts_(std::max(1, parts)),
      eps_(static_cast<size_t>(parts_)),
      results_(static_cast<size_t>(parts_)),
      zeroed_(static_cast<size_t>(parts_), 0),
      grad_sq_(static_cast<size_t>(parts_)),
      shared_(sharing != nullptr),
      workers_(sharing ? std::max(1, std::min(sharing->workers, parts_)) : parts_) {
  VAE_ASSERT(max_batch >= 1 && max_samples >= 1);
  VAE_ASSERT(max_batch <= model.max_batch() && max_samples <= model.max_samples());
  if (sharing) {
    sharing_ = *sharing;
    VAE_ASSERT(0 <= sharing_.first && sharing_.first < sharing_.last && sharing_.last <= parts_);
    if (overlaps()) {
      buckets_ = gradient_buckets(model.backward_ranges(),
                                  std::max<size_t>(1, sharing_.bucket_bytes / sizeof(T)),
                                  &bucket_end_);
      for (int p = 0; p < parts_; ++p) hooks_.emplace_back(this, p);
      ready_ = std::make_unique<std::atomic<int>[]>(static_cast<size_t>(parts_));
      fields_.resize(static_cast<size_t>(parts_));
    }
  } else {
    sharing_.first = 0;
    sharing_.last = parts_;
  }
  if (workers_ > 1) pool_ = std::make_unique<WorkerPool>(workers_);
  if (parts_ == 1) return;
  // A replica (activations and gradients) for each part run here; a part run by another
  // process needs only room for the gradient it sends.
  const int rows = (max_batch + parts_ - 1) / parts_;
  replicas_.resize(static_cast<size_t>(parts_ - 1));
  received_.resize(static_cast<size_t>(parts_ - 1));
  for (int p = 1; p < parts_; ++p) {
    const size_t i = static_cast<size_t>(p - 1);
    if (!runs_here(p)) {
      received_[i].assign(model.num_params(), T(0));
      continue;
    }
    replicas_[i] = std::make_unique<Vae<T>>(model.config(), rows, max_samples);
    replicas_[i]->share_params(model);
    if (max_samples > 1)
      eps_[static_cast<size_t>(p)].resize(static_cast<size_t>(rows) * max_samples *
                                          model.config().latent);
  }
  if (max_samples > 1)
    eps_[0].resize(static_cast<size_t>(rows) * max_samples * model.config().latent);
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
template <class F>
void DataParallel<T>::for_ranges(F&& f) {
  if (parts_ == 1) {
    f(size_t{0}, model_.num_params(), 0);
    return;
  }
  each(parts_, [&](int i) { f(par0(i), par0(i + 1), i); });
}

template <class T>
template <class F>
void DataParallel<T>::each(int n, F&& f) {
  if (!pool_) {
    for (int i = 0; i < n; ++i) f(i);
  } else if (n == workers_) {
    pool_->run(f);
  } else {
    pool_->run([&](int t) {
      for (int i = t; i < n; i += workers_) f(i);
    });
  }
}

template <class T>
void DataParallel<T>::share_parts(int B) {
  double fields[kSharedResultFields];
  for (int p = 0; p < parts_; ++p) {
    if (row0(p + 1, B) == row0(p, B)) continue;  // no rows: nothing to share
    StepResult& r = results_[static_cast<size_t>(p)];
    fields[0] = r.loss.recon;
    fields[1] = r.loss.kl;
    fields[2] = r.iw;
    fields[3] = r.objective;
    fields[4] = r.finite ? 1 : 0;
    sharing_.share(p, part_grads(p), model_.num_params(), fields);
    r.loss.recon = fields[0];
    r.loss.kl = fields[1];
    r.iw = fields[2];
    r.objective = fields[3];
    r.finite = fields[4] != 0;
    // A part run elsewhere: its gradient here is whatever was shared, not known zero.
    if (!runs_here(p)) zeroed_[static_cast<size_t>(p)] = 0;
  }
}

// The next transfer of the sequence is posted while it may go (a part run elsewhere: always;
// one run here: once ready_ says so); then the posted ones may move.
template <class T>
void DataParallel<T>::post_ready() {
  const int items = static_cast<int>(buckets_.size()) + 1;  // the buckets, then the figures
  while (next_part_ < parts_) {
    const int p = next_part_, item = next_item_;
    const bool rows = row0(p + 1, step_rows_) > row0(p, step_rows_);
    if (rows && runs_here(p) && ready_[static_cast<size_t>(p)].load(std::memory_order_acquire) <= item)
      break;
    if (rows && item + 1 < items) {
      const GradRange b = buckets_[static_cast<size_t>(item)];
      sharing_.exchange->post(p, part_grads(p) + b.lo, (b.hi - b.lo) * sizeof(T));
    } else if (rows) {
      sharing_.exchange->post(p, fields_[static_cast<size_t>(p)].data(),
                              sizeof(fields_[0]));
    }
    if (!rows || ++next_item_ == items) {
      ++next_part_;
      next_item_ = 0;
    }
  }
  sharing_.exchange->progress();
}

template <class T>
void DataParallel<T>::start_exchange(int B) {
  step_rows_ = B;
  next_part_ = next_item_ = 0;
  poster_ = std::this_thread::get_id();
  for (int p = 0; p < parts_; ++p) ready_[static_cast<size_t>(p)].store(0);
  post_ready();  // the parts before this process's first: nothing to wait for
}

// Slice i of part p's backward is final: so is a bucket when the slice completes one.
template <class T>
void DataParallel<T>::range_ready(int p, size_t i) {
  const int b = bucket_end_[i];
  if (b >= 0) ready_[static_cast<size_t>(p)].store(b + 1, std::memory_order_release);
  if (std::this_thread::get_id() == poster_) post_ready();
}

// Part p ran here: its figures, and every bucket (a part whose loss was not finite had no
// backward: its gradient is the zeros it started from), may go.
template <class T>
void DataParallel<T>::part_done(int p) {
  const StepResult& r = results_[static_cast<size_t>(p)];
  fields_[static_cast<size_t>(p)] = {r.loss.recon, r.loss.kl, r.iw, r.objective, r.finite ? 1.0 : 0.0};
  ready_[static_cast<size_t>(p)].store(static_cast<int>(buckets_.size()) + 1,
                                       std::memory_order_release);
  if (std::this_thread::get_id() == poster_) post_ready();
}

// After this process's parts: the rest of the sequence, the wait, and the other parts' figures.
template <class T>
void DataParallel<T>::finish_exchange() {
  post_ready();
  VAE_ASSERT(next_part_ == parts_);
  sharing_.exchange->wait();
  for (int p = 0; p < parts_; ++p) {
    if (runs_here(p)) continue;
    const auto& f = fields_[static_cast<size_t>(p)];
    StepResult& r = results_[static_cast<size_t>(p)];
    r.loss.recon = f[0];
    r.loss.kl = f[1];
    r.iw = f[2];
    r.objective = f[3];
    r.finite = f[4] != 0;
    zeroed_[static_cast<size_t>(p)] = 0;  // its gradient here is what arrived
  }
}

template <class T>
typename DataParallel<T>::StepResult DataParallel<T>::step(const T* x, const T* eps, int B, int K,
                                                           const int32_t* labels, bool iwae,
                                                           double beta, double free_bits) {
  VAE_ASSERT(B >= 1 && K >= 1 && (iwae || K == 1));
  VAE_ASSERT(free_bits == 0.0 || parts_ == 1);
  const int D = model_.config().input_dim, Z = model_.config().latent;

  // Forward and backward of part p on its replica; rows b0..b1 of the batch.
  auto run_part = [&](int p) {
    StepResult& r = results_[static_cast<size_t>(p)];
    r = StepResult{};
    const int b0 = row0(p, B), Bp = row0(p + 1, B) - b0;
    if (Bp == 0) return;
    Vae<T>& m = p == 0 ? model_ : *replicas_[static_cast<size_t>(p - 1)];
    if (overlaps()) m.set_backward_hook(&hooks_[static_cast<size_t>(p)]);
    const T* xp = x + static_cast<size_t>(b0) * D;
    const int32_t* lp = labels ? labels + b0 : nullptr;
    if (!zeroed_[static_cast<size_t>(p)]) m.zero_grad();
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
      zeroed_[static_cast<size_t>(p)] = !r.finite;  // no backward: still zero
    } else {
      r.loss = m.forward(xp, eps + static_cast<size_t>(b0) * Z, Bp, lp);
      r.finite = std::isfinite(r.loss.recon) && std::isfinite(r.loss.kl);
      if (r.finite) r.objective = m.backward(xp, Bp, beta, free_bits);
      zeroed_[static_cast<size_t>(p)] = !r.finite;  // no backward: still zero
    }
    if (overlaps()) {
      m.set_backward_hook(nullptr);
      part_done(p);
    }
  };

  if (overlaps()) start_exchange(B);
  if (parts_ == 1)
    run_part(0);
  else
    each(sharing_.last - sharing_.first, [&](int i) { run_part(sharing_.first + i); });
  if (overlaps())
    finish_exchange();
  else if (shared_)
    share_parts(B);
  StepResult out;
  grads_.clear();
  weights_.clear();
  for (int p = 0; p < parts_; ++p) {  // fixed order: deterministic sums
    const StepResult& r = results_[static_cast<size_t>(p)];
    const int Bp = row0(p + 1, B) - row0(p, B);
    if (Bp == 0) continue;
    const double w = static_cast<double>(Bp) / B;
    out.loss.recon += r.loss.recon;
    out.loss.kl += r.loss.kl;
    out.iw += r.iw;
    out.objective += w * r.objective;
    out.finite = out.finite && r.finite;
    grads_.push_back(part_grads(p));
    weights_.push_back(static_cast<T>(w));
  }
  return out;
}

template <class T>
double DataParallel<T>::range_sq_total() const {
  double sq = 0;
  for (double v : grad_sq_) sq += v;  // fixed order: deterministic
  return sq;
}

template <class T>
double DataParallel<T>::reduce() {
  VAE_ASSERT(!grads_.empty() && grads_[0] == model_.grads());
  const int parts = static_cast<int>(grads_.size());
  for_ranges([&](size_t lo, size_t hi, int i) {
    T* g = model_.grads();
    if (parts > 1) {
      for (size_t j = lo; j < hi; ++j) g[j] *= weights_[0];
      for (int p = 1; p < parts; ++p) {
        const T w = weights_[static_cast<size_t>(p)];
        const T* gp = grads_[static_cast<size_t>(p)];
        for (size_t j = lo; j < hi; ++j) g[j] += w * gp[j];
      }
    }
    grad_sq_[static_cast<size_t>(i)] = sum_squares(g + lo, hi - lo);
  });
  // The gradient is stored: later calls see one part of weight 1.
  grads_.resize(1);
  weights_.assign(1, T(1));
  return range_sq_total();
}

template <class T>
void DataParallel<T>::update(Adam<T>& adam, T grad_scale) {
  VAE_ASSERT(adam.size() == model_.num_params());
  adam.begin_step();
  for_ranges([&](size_t lo, size_t hi, int) {
    adam.update(model_.params(), model_.grads(), lo, hi, grad_scale);
  });
}

template <class T>
double DataParallel<T>::update_fused(Adam<T>& adam) {
  VAE_ASSERT(adam.size() == model_.num_params() && !grads_.empty());
  adam.begin_step();
  const int parts = static_cast<int>(grads_.size());
  for_ranges([&](size_t lo, size_t hi, int i) {
    grad_sq_[static_cast<size_t>(i)] =
        adam.update_reduced(model_.params(), grads_.data(), weights_.data(), parts, lo, hi, true);
  });
  // The parts with rows, 0..grads_.size() − 1 (only trailing parts can be empty), were zeroed.
  std::fill_n(zeroed_.begin(), grads_.size(), char{1});
  return range_sq_total();
}

template class DataParallel<float>;
template class DataParallel<double>;

}  // namespace vae
