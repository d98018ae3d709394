// Workspaces borrowed by inference calls (layout and rules in workspace_pool.h).
#include "infer/workspace_pool.h"

namespace vae {

WorkspacePool::WorkspacePool(Vae<float>& weights, int max_batch)
    : weights_(&weights), max_batch_(max_batch) {
  for (auto& b : busy_) b.store(false, std::memory_order_relaxed);
}

std::unique_ptr<Vae<float>> WorkspacePool::make() const {
  auto ws = std::make_unique<Vae<float>>(weights_->config(), max_batch_, 1, VaeBuffers::ForwardOnly);
  ws->share_params_read_only(*weights_);
  return ws;
}

WorkspacePool::Lease WorkspacePool::acquire() {
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (busy_[i].load(std::memory_order_relaxed) ||
        !busy_[i].compare_exchange_strong(expected, true, std::memory_order_acquire,
                                          std::memory_order_relaxed))
      continue;
    try {
      if (!slots_[i]) slots_[i] = make();
    } catch (...) {
      busy_[i].store(false, std::memory_order_release);
      throw;
    }
    return Lease(&busy_[i], slots_[i].get(), nullptr);
  }
  std::unique_ptr<Vae<float>> own = make();
  Vae<float>* model = own.get();
  return Lease(nullptr, model, std::move(own));
}

WorkspacePool::Lease::Lease(std::atomic<bool>* busy, Vae<float>* model,
                            std::unique_ptr<Vae<float>> own)
    : busy_(busy), model_(model), own_(std::move(own)) {}

WorkspacePool::Lease::Lease(Lease&& o) noexcept
    : busy_(o.busy_), model_(o.model_), own_(std::move(o.own_)) {
  o.busy_ = nullptr;
}

WorkspacePool::Lease::~Lease() {
  if (busy_) busy_->store(false, std::memory_order_release);
}

}  // namespace vae
