// The workspaces of a loaded inference model (include/vae/infer.h): a Vae<float> holds the
// activations of one forward pass, so two threads must never run one at the same time. Each call
// borrows one for its duration.
//
//   slots    kSlots workspaces, made on first use, each sharing the weights of one owner model
//            (Vae::share_params_read_only) so only the activations are per workspace; forward-only
//            (VaeBuffers::ForwardOnly): no gradient buffers
//   busy     one atomic flag per slot; acquire() takes the first free slot with a compare-and-swap
//            (acquire order), the lease's destructor frees it (release order): no lock, and the
//            workspace's memory is handed from one borrower to the next by that pair
//   overflow with every slot taken, a call makes a workspace of its own and drops it afterwards
// A workspace's contents never carry from one call to the next (every call overwrites what it
// reads), so which workspace a call gets cannot change its results.
#pragma once

#include <atomic>
#include <memory>

#include "vae/model.h"

namespace vae {

class WorkspacePool {
 public:
  static constexpr int kSlots = 32;
  /// Workspaces for batches of up to max_batch rows over the parameters of `weights`, which must
  /// outlive the pool and not change while it is in use.
  WorkspacePool(Vae<float>& weights, int max_batch);
  WorkspacePool(const WorkspacePool&) = delete;
  WorkspacePool& operator=(const WorkspacePool&) = delete;

  /// Exclusive use of one workspace until destroyed.
  class Lease {
   public:
    Lease(Lease&& o) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    Vae<float>& model() const { return *model_; }

   private:
    friend class WorkspacePool;
    Lease(std::atomic<bool>* busy, Vae<float>* model, std::unique_ptr<Vae<float>> own);
    std::atomic<bool>* busy_;  // the slot's flag, or nullptr for an overflow workspace
    Vae<float>* model_;
    std::unique_ptr<Vae<float>> own_;  // the overflow workspace, owned by the lease
  };
  Lease acquire();

 private:
  std::unique_ptr<Vae<float>> make() const;

  Vae<float>* weights_;
  int max_batch_;
  std::atomic<bool> busy_[kSlots];
  std::unique_ptr<Vae<float>> slots_[kSlots];  // slot i is touched only by the holder of busy_[i]
};

}  // namespace vae
